"""The monitoring DAG's tasks: check a scored day, save Evidently's report, and request a
retrain (through the ``retrain.<model>`` Asset) when the guardrails allow.

Steps are imported inside the task bodies (see ``mlops/tasks/__init__.py``).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from mlops import metrics, settings
from mlops.assets import retrain_asset
from mlops.runtime import emit, partition_day, step, step_errors
from pipelines.core.registry import run_url
from pipelines.core.spec import ModelSpec

log = logging.getLogger(__name__)
REQUEST_FACTS = ("drifted_columns", "prediction_drift", "decayed", "version")


def check_task(spec: ModelSpec) -> Any:
    """Drift and live performance of the day against the serving version's reference."""

    @step(task_id="check")
    def check(**context: Any) -> dict[str, Any]:
        from pipelines.monitoring import runs

        day = partition_day(context, spec)
        tracking = settings.tracking_uri()
        with step_errors(spec, "monitor", day):
            result, run_id = runs.check(
                settings.open_lake(), spec, day, tracking, settings.artifact_root()
            )
        summary = result.summary()
        metrics.drift(spec.name, summary, {c.column: c.score for c in result.columns})
        for column in result.columns:
            if column.drifted or column.missing_drift:
                log.warning("drift %s", column)
        log.info(
            "%s %s: %s\n  drift.json: %s\n  MLflow run: %s",
            spec.name,
            day,
            summary,
            result.uri,
            run_url(tracking, run_id),
        )
        return {**summary, "run_id": run_id, "mlflow_run": run_url(tracking, run_id)}

    return check


def report_task(spec: ModelSpec) -> Any:
    """Evidently's report on a sample of the day, in the lake and the day's MLflow run."""

    @step(task_id="report")
    def report(checked: dict[str, Any]) -> dict[str, Any]:
        from pipelines.monitoring import runs
        from pipelines.monitoring.evidently_report import report_skipped

        day, lake = date.fromisoformat(checked["date"]), settings.open_lake()
        skipped = report_skipped(lake, spec, day, bool(checked.get("drifted")))
        if skipped:
            raise AirflowSkipException(skipped)
        files, _ = runs.report(
            lake,
            spec,
            day,
            settings.tracking_uri(),
            checked["version"],
            settings.artifact_root(),
        )
        log.info(
            "Evidently report (%s rows, %s of columns drifted): %s\n  JSON: %s",
            files.rows,
            files.drifted_share,
            files.html,
            files.json,
        )
        return {"html": files.html, "json": files.json, "rows": files.rows}

    return report


def request_retrain_task(spec: ModelSpec) -> Any:
    """The guarded retrain decision; a request is an event of the ``retrain.<model>`` Asset
    for the day's partition (the retraining DAG runs once per requested day) whose extra says
    why. No request: the task skips with the reason."""
    retrain = retrain_asset(spec)

    @step(task_id="request_retrain", outlets=[retrain])
    def request_retrain(checked: dict[str, Any], **context: Any) -> dict[str, Any]:
        from pipelines.monitoring import runs
        from pipelines.serving.history import frontier

        day, lake = date.fromisoformat(checked["date"]), settings.open_lake()
        decision = runs.decide(
            lake,
            spec,
            day,
            settings.tracking_uri(),
            checked["triggers"],
            settings.artifact_root(),
            frontier(lake, spec.name),
        )
        log.info("%s %s: %s; facts %s", spec.name, day, decision.why, decision.facts)
        # A day asks for a retrain once, however often it is monitored; but a retry of this
        # task (or a cleared one) may follow a request saved before its event was sent: send
        # it (training is idempotent by date, so a second event costs a reused version).
        resend = decision.retrain and context["ti"].try_number > 1
        if decision.repeated and not resend:
            raise AirflowSkipException(f"{day} was decided before: {decision.why}")
        if not decision.retrain:
            raise AirflowSkipException(decision.why)
        extra = {k: checked[k] for k in REQUEST_FACTS}
        facts = {"date": checked["date"], "why": decision.triggers, **extra}
        emit(context, retrain, facts, [checked["date"]])
        if not decision.repeated:
            metrics.retrain_requested(spec.name)
        return decision.to_dict()

    return request_retrain
