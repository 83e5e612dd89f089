"""The DAG factory: model specs in, Airflow DAGs out (training, scoring, promotion, monitoring).

``dags_from_specs()`` builds every valid spec's DAGs and logs the invalid ones;
``raise_for_bad_specs()`` (called by ``dags/check_model_specs.py``) turns the invalid ones
into a DAG import error in the UI, so one broken spec never hides the others' DAGs.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, AssetOrTimeSchedule, CronDataIntervalTimetable

from mlops import settings
from mlops.assets import retrain_asset
from mlops.links import MLFLOW_RUN, MODEL_VERSION, VALIDATION_REPORT, with_links
from mlops.tasks import (
    features_task,
    ingest_task,
    partition_date_macro,
    train_result_task,
    train_task,
    training_params,
    validate_task,
)
from pipelines.errors import SpecError
from pipelines.spec import ModelSpec, load_specs

log = logging.getLogger(__name__)


def default_args(spec: ModelSpec) -> dict[str, object]:
    """Owner and retry policy every task of a model's DAGs shares."""
    from mlops.notify import FailureNotifier

    return {
        "owner": spec.owner,
        "on_failure_callback": [FailureNotifier()],
        "retries": spec.retries.count,
        "retry_delay": timedelta(seconds=spec.retries.delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=spec.retries.max_delay_minutes),
    }


def midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz))


def training_dag(spec: ModelSpec) -> DAG:
    """``<model>__training``: ingest -> validate -> features -> train, on the spec's cron and
    on retrain requests from the monitoring DAG (the ``retrain.<model>`` Asset; such a run
    processes the date in the request, so validation still comes first).

    With ``execution: kubernetes`` the train task is a pod (``mlops/pod.py``) followed by
    ``train_result``, which checks the JSON the pod returned and emits the model Asset event.

    Each run covers one day (its data interval): the run with logical date D processes the
    partition of D after D is over, so backfills replay dates exactly.
    """
    schedules = spec.schedules
    tz = schedules.timezone
    with DAG(
        dag_id=f"{spec.name}__training",
        description=spec.description or f"Nightly training of {spec.name}",
        doc_md=_doc(spec),
        schedule=AssetOrTimeSchedule(
            timetable=CronDataIntervalTimetable(schedules.training, timezone=tz),
            assets=[retrain_asset(spec)],
        ),
        start_date=midnight(schedules.start_date, tz),
        catchup=False,  # history is replayed on purpose, with `airflow backfill create`
        max_active_runs=1,  # day D trains on the features of the days before it
        default_args=default_args(spec),
        tags=["mlops", f"model:{spec.name}", "training", *spec.tags],
        params=training_params(),
        user_defined_macros={"mlops_partition_date": partition_date_macro(spec)},
    ) as dag:
        validated = validate_task(spec)(ingest_task(spec)())
        with_links(validated, VALIDATION_REPORT, model=spec.name)
        built = features_task(spec)(validated)
        if settings.execution_mode(spec) == "kubernetes":
            from mlops.pod import train_pod

            pod = train_pod(spec)
            built >> pod
            trained = train_result_task(spec)(pod.output)
        else:
            trained = train_task(spec)(built)
        with_links(trained, MLFLOW_RUN, MODEL_VERSION, model=spec.name)
    return dag


def _doc(spec: ModelSpec) -> str:
    features = ", ".join(spec.feature_names)
    return (
        f"### {spec.name}\n{spec.description}\n\n"
        f"- owner: `{spec.owner}`; source: `{spec.source.kind}` / `{spec.source.dataset}`\n"
        f"- label: `{spec.label.name}` ({spec.label.task}), known "
        f"{spec.label.arrival_delay_days} day(s) later\n- features: {features}\n"
        f"- spec: `include/models/{spec.name}.yaml`"
    )


def dags_from_specs() -> dict[str, DAG]:
    """Every DAG of every valid spec, by dag_id (bad specs are logged and left out)."""
    good, bad = load_specs(settings.models_dir())
    for path, error in bad.items():
        log.error("skipping invalid model spec %s: %s", path, error)
    from mlops.monitoring import monitoring_dag
    from mlops.serving import promotion_dag, scoring_dag

    dags = {}
    for spec in good.values():
        built = (training_dag(spec), scoring_dag(spec), promotion_dag(spec), monitoring_dag(spec))
        for dag in built:
            dags[dag.dag_id] = dag
    return dags


def raise_for_bad_specs() -> None:
    """Raise one SpecError listing every invalid spec file and field."""
    _, bad = load_specs(settings.models_dir())
    if bad:
        raise SpecError("\n".join(str(error) for error in bad.values()))
