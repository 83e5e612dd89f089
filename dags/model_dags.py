"""Airflow DAGs generated from the model specs in ``include/models/*.yaml``.

Per valid spec: ``<model>__training``, ``<model>__retraining``, ``<model>__scoring``,
``<model>__promotion`` and ``<model>__monitoring`` (built by ``mlops.builders``). Adding a
model is adding a YAML file; an invalid spec is reported by ``check_model_specs.py`` instead.
"""

from mlops.builders.factory import dags_from_specs

globals().update(dags_from_specs())
