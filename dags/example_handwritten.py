"""A hand-written DAG built from the same task builders as the generated ones.

Use this shape when a model needs wiring the factory does not generate: load the spec, then
compose the tasks. This one runs the flight-delay steps on demand only: trigger it from the
UI and pick the partition date in the form.
"""

from datetime import UTC, datetime

from airflow.sdk import DAG

from mlops import settings
from mlops.dag_args import default_args
from mlops.links import MLFLOW_RUN, MODEL_VERSION, VALIDATION_REPORT, with_links
from mlops.params import DATE_PARAM, date_param
from mlops.tasks.training import features_task, ingest_task, train_task, validate_task
from pipelines.core.spec import load_spec

spec = load_spec(settings.models_dir() / "flight_delay.yaml")

with DAG(
    dag_id="example_handwritten__flight_delay_on_demand",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2013, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(spec),
    tags=["mlops", "example", f"model:{spec.name}"],
    params={DATE_PARAM: date_param()},
):
    validated = validate_task(spec)(ingest_task(spec)())
    trained = train_task(spec)(features_task(spec)(validated))
    # The UI's buttons (MLflow run, model version, validation report) on your own tasks:
    with_links(validated, VALIDATION_REPORT, model=spec.name)
    with_links(trained, MLFLOW_RUN, MODEL_VERSION, model=spec.name)
