"""Airflow DAGs generated from the model specs in ``include/models/*.yaml``.

One ``<model>__training`` DAG per valid spec (ingest -> validate -> features -> train).
Adding a model is adding a YAML file; an invalid spec is reported by ``check_model_specs.py``
instead.
"""

from mlops.factory import dags_from_specs

globals().update(dags_from_specs())
