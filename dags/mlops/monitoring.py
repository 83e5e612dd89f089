"""``<model>__monitoring``: drift, live performance, the Evidently report, and retrain requests.

Runs after each scoring (the predictions Asset) or on ``schedules.monitoring``. ``check``
judges the day against the serving version's reference profile (pipelines/monitor.py);
``report`` saves Evidently's report on a sample; ``request_retrain`` applies the spec's
guardrails and, when a retrain is wanted, emits the ``retrain.<model>`` Asset event whose
extra says why. The training DAG is scheduled on that Asset as well as on its cron. A day
with no retrain request ends with ``request_retrain`` skipped and the reason in its log.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowSkipException

from mlops import metrics, settings
from mlops.assets import predictions_asset, retrain_asset
from mlops.links import DRIFT_REPORT, MLFLOW_RUN, with_links
from mlops.serving import after_or_cron, dag_args
from mlops.tasks import DATE_PARAM, date_param, emit, partition_day, step, step_errors
from pipelines.spec import ModelSpec

log = logging.getLogger(__name__)


def monitoring_dag(spec: ModelSpec) -> DAG:
    """Check, report and (guarded) request a retrain for one scored day."""
    predictions = predictions_asset(spec)
    retrain = retrain_asset(spec)
    schedules = spec.schedules
    with DAG(
        schedule=after_or_cron(spec, predictions, schedules.monitoring),
        **dag_args(
            spec,
            "monitoring",
            description=f"Drift and live performance of {spec.name}; retrain requests",
            doc_md=__doc__,
            params={DATE_PARAM: date_param()},
        ),
    ) as dag:

        @step()
        def check(**context: Any) -> dict[str, Any]:
            from pipelines import monitoring

            day = partition_day(context, spec)
            with step_errors(spec, "monitor", day):
                result, run_id = monitoring.check(
                    settings.open_lake(),
                    spec,
                    day,
                    settings.tracking_uri(),
                    settings.artifact_root(),
                )
            summary = result.summary()
            metrics.drift(spec.name, summary, {c.column: c.score for c in result.columns})
            mlflow_run = monitoring.run_url(settings.tracking_uri(), run_id)
            for column in result.columns:
                if column.drifted or column.missing_drift:
                    log.warning("drift %s", column)
            log.info(
                "%s %s: %s\n  drift.json: %s\n  MLflow run: %s",
                spec.name,
                day,
                summary,
                result.uri,
                mlflow_run,
            )
            return {**summary, "run_id": run_id, "mlflow_run": mlflow_run}

        @step()
        def report(checked: dict[str, Any]) -> dict[str, Any]:
            from pipelines import monitoring

            day = date.fromisoformat(checked["date"])
            files, _ = monitoring.report(
                settings.open_lake(),
                spec,
                day,
                settings.tracking_uri(),
                checked["version"],
                settings.artifact_root(),
            )
            log.info(
                "Evidently report (%s rows, %.0f%% of columns drifted): %s\n  JSON: %s",
                files.rows,
                100 * files.drifted_share,
                files.html,
                files.json,
            )
            return {"html": files.html, "json": files.json, "rows": files.rows}

        @step(outlets=[retrain])
        def request_retrain(checked: dict[str, Any], **context: Any) -> dict[str, Any]:
            from pipelines import monitoring

            day = date.fromisoformat(checked["date"])
            decision = monitoring.decide(
                settings.open_lake(),
                spec,
                day,
                settings.tracking_uri(),
                checked["triggers"],
                settings.artifact_root(),
            )
            log.info("%s %s: %s; facts %s", spec.name, day, decision.why, decision.facts)
            if not decision.retrain:
                raise AirflowSkipException(decision.why)
            extra = {
                "date": checked["date"],
                "why": decision.triggers,
                "drifted_columns": checked["drifted_columns"],
                "prediction_drift": checked["prediction_drift"],
                "decayed": checked["decayed"],
                "version": checked["version"],
            }
            emit(context, retrain, extra)
            metrics.retrain_requested(spec.name)
            return decision.to_dict()

        checked = with_links(check(), MLFLOW_RUN, DRIFT_REPORT, model=spec.name)
        with_links(report(checked), DRIFT_REPORT, model=spec.name)
        request_retrain(checked)
    return dag
