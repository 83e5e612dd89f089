"""``<model>__monitoring``: drift, live performance, the Evidently report, and retrain requests.

Runs after each scoring (the predictions Asset) or on ``schedules.monitoring``. ``check``
judges the day against the serving version's reference profile (pipelines/monitoring/check.py);
``report`` saves Evidently's report on a sample; ``request_retrain`` applies the spec's
guardrails and, when a retrain is wanted, emits the ``retrain.<model>`` Asset event whose
extra says why, for the day's partition: the retraining DAG runs once per requested day. A
day with no retrain request ends with ``request_retrain`` skipped and the reason in its log.
"""

from __future__ import annotations

from airflow.sdk import DAG

from mlops.assets import predictions_asset
from mlops.dag_args import after_or_cron, model_dag_args
from mlops.links import DRIFT_REPORT, MLFLOW_RUN, with_links
from mlops.params import DATE_PARAM, date_param
from mlops.tasks.monitoring import check_task, report_task, request_retrain_task
from pipelines.core.spec import ModelSpec


def monitoring_dag(spec: ModelSpec) -> DAG:
    """Check, report and (guarded) request a retrain for one scored day."""
    with DAG(
        schedule=after_or_cron(spec, predictions_asset(spec), spec.schedules.monitoring),
        **model_dag_args(
            spec,
            "monitoring",
            description=f"Drift and live performance of {spec.name}; retrain requests",
            doc_md=__doc__,
            params={DATE_PARAM: date_param()},
        ),
    ) as dag:
        checked = with_links(check_task(spec)(), MLFLOW_RUN, DRIFT_REPORT, model=spec.name)
        with_links(report_task(spec)(checked), DRIFT_REPORT, model=spec.name)
        request_retrain_task(spec)(checked)
    return dag
