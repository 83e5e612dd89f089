"""The Airflow layer of the project: settings, Assets, Params, task builders and DAG builders
over ``pipelines``, and the UI plugin (``mlops.ui``).

Installed beside ``pipelines`` (one ``pyproject.toml``), so DAG files, workers and the API
server import the same code whether or not the DAGs folder is mounted. Layers, enforced by
import-linter (``make lint``): ``ui`` and ``builders`` above ``tasks`` above the helpers
(``runtime``, ``params``, ``dag_args``, ``links``, ``metrics``, ``notify``) above ``settings``
and ``assets``. Only light modules are imported at parse time: each task imports its
``pipelines`` step inside its body, so parsing a DAG file never loads pandas, MLflow,
LightGBM, Great Expectations or Evidently.
"""
