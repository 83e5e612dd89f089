"""``<model>__training``: ingest -> validate -> features -> train, on the spec's cron; and
``<model>__retraining``: request -> train, once per day that monitoring asks to retrain on
(the ``retrain.<model>`` Asset; its events carry the monitored day as their partition, and
Airflow starts only partition-aware DAGs on such events).

With ``execution: kubernetes`` the train task is a pod (``mlops/tasks/pod.py``) followed by
``train_result``, which checks the JSON the pod returned and emits the model Asset event.
Each nightly run covers one day (its data interval): the run with logical date D processes
the partition of D after D is over, so backfills replay dates exactly.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable
from airflow.sdk.definitions.timetables.assets import PartitionedAssetTimetable

from mlops import settings
from mlops.assets import retrain_asset
from mlops.dag_args import model_dag_args
from mlops.links import MLFLOW_RUN, MODEL_VERSION, VALIDATION_REPORT, with_links
from mlops.params import training_params
from mlops.runtime import partition_date_macro
from mlops.tasks.pod import train_pod
from mlops.tasks.training import (
    features_task,
    ingest_task,
    retrain_request_task,
    train_result_task,
    train_task,
    validate_task,
)
from pipelines.core.spec import ModelSpec


def training_dag(spec: ModelSpec) -> DAG:
    """The spec's training DAG (one run at a time: day D trains on the days before it)."""
    schedules = spec.schedules
    with DAG(
        schedule=CronDataIntervalTimetable(schedules.training, timezone=schedules.timezone),
        **model_dag_args(
            spec,
            "training",
            description=spec.description or f"Nightly training of {spec.name}",
            doc_md=_doc(spec),
            params=training_params(),
            user_defined_macros={"mlops_partition_date": partition_date_macro(spec)},
        ),
    ) as dag:
        validated = validate_task(spec)(ingest_task(spec)())
        with_links(validated, VALIDATION_REPORT, model=spec.name)
        _train(spec, features_task(spec)(validated))
    return dag


def retraining_dag(spec: ModelSpec) -> DAG:
    """The spec's retraining DAG: one run per day monitoring asks to retrain on."""
    with DAG(
        schedule=PartitionedAssetTimetable(assets=retrain_asset(spec)),
        **model_dag_args(
            spec,
            "retraining",
            description=f"Retraining of {spec.name} on monitoring's request",
            doc_md=_doc(spec),
            params=training_params(),
            user_defined_macros={"mlops_partition_date": partition_date_macro(spec)},
        ),
    ) as dag:
        _train(spec, retrain_request_task(spec)(), requested=True)
    return dag


def _train(spec: ModelSpec, upstream: Any, requested: bool = False) -> None:
    """Train after ``upstream`` (whose result names the day): in process, or as a pod."""
    if settings.execution_mode(spec) == "kubernetes":
        pod = train_pod(spec, requested)
        upstream >> pod
        trained = train_result_task(spec)(pod.output)
    else:
        trained = train_task(spec)(upstream)
    with_links(trained, MLFLOW_RUN, MODEL_VERSION, model=spec.name)


def _doc(spec: ModelSpec) -> str:
    features = ", ".join(spec.feature_names)
    return (
        f"### {spec.name}\n{spec.description}\n\n"
        f"- owner: `{spec.owner}`; source: `{spec.source.kind}` / `{spec.source.dataset}`\n"
        f"- label: `{spec.label.name}` ({spec.label.task}), known "
        f"{spec.label.arrival_delay_days} day(s) later\n- features: {features}\n"
        f"- spec: `include/models/{spec.name}.yaml`"
    )
