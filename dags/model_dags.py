"""Airflow DAGs generated from the model specs in ``include/models/*.yaml``.

Per valid spec: ``<model>__training`` (ingest -> validate -> features -> train),
``<model>__scoring`` and ``<model>__promotion`` (dags/mlops/serving.py).
Adding a model is adding a YAML file; an invalid spec is reported by ``check_model_specs.py``
instead.
"""

from mlops.factory import dags_from_specs

globals().update(dags_from_specs())
