"""The Airflow DAG ``mlops__rollback``: restore a model's previous (or a chosen) version.

Built in ``mlops/builders/serving.py``; trigger it from the UI form (model, version, reason).
"""

from mlops import settings
from mlops.builders.serving import rollback_dag
from pipelines.core.spec import load_specs

dag = rollback_dag(load_specs(settings.models_dir())[0])
