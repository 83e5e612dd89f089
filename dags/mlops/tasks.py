"""Task builders: one TaskFlow task per pipelines step, shared by generated and hand-written DAGs.

Each task body is one call into ``pipelines`` (imported inside the task), returns small JSON
for XCom, and maps the step's errors onto Airflow's meaning:
missing input or too little data -> skipped with the reason; corrupt input, bad spec or
failed training -> failed without retry; anything else (e.g. object store down) -> retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from airflow.sdk import Param, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlops import metrics, settings
from mlops.assets import features_asset, model_asset, raw_asset
from pipelines.spec import ModelSpec

log = logging.getLogger(__name__)

DATE_PARAM = "partition_date"


def step(**kwargs: Any) -> Any:
    """``@task`` for a step that returns one small JSON dict: one XCom. TaskFlow would infer
    ``multiple_outputs`` from the ``-> dict`` annotation and push one more XCom per key."""
    return task(multiple_outputs=False, **kwargs)


def date_param() -> Param:
    """Trigger-form field: process a specific date instead of the run's data interval."""
    return Param(
        None,
        type=["null", "string"],
        format="date",
        title="Partition date",
        description=(
            "Date of the data partition to process (YYYY-MM-DD). Leave empty to use the "
            "start of the run's data interval (the nightly schedule does this)."
        ),
    )


def platform_args() -> dict[str, Any]:
    """Owner, retries and alerts of the platform's own DAGs (rollback, quarantine review)."""
    from mlops.notify import FailureNotifier

    return {
        "owner": "ml-platform",
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": [FailureNotifier()],
    }


def reason_param(description: str, required: bool = True) -> Param:
    """A free-text reason, recorded; the UI asks for one unless ``required`` is False."""
    if required:
        return Param("", type="string", maxLength=500, title="Reason", description=description)
    kinds = ["null", "string"]
    return Param(None, type=kinds, maxLength=500, title="Reason", description=description)


def training_params() -> dict[str, Param]:
    """The retrain form: a date, training changes for this run only, and why."""
    from pipelines.spec import TRAINING_OVERRIDES, training_overrides_schema

    schema = training_overrides_schema()
    return {
        DATE_PARAM: date_param(),
        "overrides": Param(
            {},
            title="Training overrides (this run only)",
            description=(
                "JSON object; allowed keys: " + ", ".join(TRAINING_OVERRIDES) + ". `params` "
                'are merged into the spec\'s, e.g. {"params": {"learning_rate": 0.03}, '
                '"window_days": 14}. The version is tagged with them; the spec is unchanged.'
            ),
            **schema,
        ),
        "reason": reason_param("Why this retrain: recorded on the MLflow run and version."),
    }


def partition_day(context: dict[str, Any], spec: ModelSpec) -> date:
    """The partition a run processes: the Param if set, else the date in the triggering Asset
    events (the newest), else the start of its data interval."""
    chosen = (context.get("params") or {}).get(DATE_PARAM)
    if chosen:
        return date.fromisoformat(str(chosen))
    events = context.get("triggering_asset_events") or {}
    dates = [
        str(event.extra["date"])
        for asset_events in events.values()
        for event in asset_events
        if (event.extra or {}).get("date")
    ]
    if dates:
        return date.fromisoformat(max(dates))
    start = context.get("data_interval_start") or context.get("logical_date")
    if start is None:
        raise AirflowFailException(
            f"{spec.name}: this run has no data interval; trigger it with a {DATE_PARAM} Param"
        )
    return start.in_timezone(spec.schedules.timezone).date()


def partition_date_macro(spec: ModelSpec) -> Any:
    """``partition_day`` as a template macro: ``{{ mlops_partition_date(params,
    triggering_asset_events, data_interval_start) }}`` (the training pod's ``--date``)."""

    def partition_date(params: Any, events: Any, start: Any) -> str:
        context = {"params": params, "triggering_asset_events": events}
        return partition_day({**context, "data_interval_start": start}, spec).isoformat()

    return partition_date


@contextmanager
def step_errors(spec: ModelSpec, step: str, day: date) -> Iterator[None]:
    """Translate pipelines errors into skip / fail-fast / retry."""
    from pipelines import errors

    where = f"{spec.name} {step} {day}"
    try:
        yield
    except errors.SKIPS as exc:
        log.warning("%s skipped: %s", where, exc)
        raise AirflowSkipException(f"{where}: {exc}") from exc
    except (errors.CorruptPartitionError, errors.SpecError, errors.TrainingError) as exc:
        raise AirflowFailException(f"{where}: {exc}") from exc


def emit(context: dict[str, Any], asset: Any, extra: dict[str, Any]) -> None:
    """Attach facts to the Asset event this task emits."""
    context["outlet_events"][asset].extra = extra


def ingest_task(spec: ModelSpec) -> Any:
    """Land night D's deliveries in ``landing/``; skip with the reason when D has no data."""

    @step(task_id="ingest")
    def ingest(**context: Any) -> dict[str, Any]:
        from pipelines.ingest import ingest as run_ingest

        day = partition_day(context, spec)
        with step_errors(spec, "ingest", day):
            result = run_ingest(settings.open_lake(), spec, day)
        log.info("ingested %s rows for %s on %s", result.rows, spec.name, day)
        return result.to_dict()

    return ingest


def validate_task(spec: ModelSpec) -> Any:
    """The data gate: move night D's deliveries to ``raw/`` or ``quarantine/``.

    A blocked batch skips this task and everything downstream for the date, with the reasons
    and the quarantine location in the skip message; warnings and dropped rows are logged and
    travel with the data to training (tags on the model version).
    """
    asset = raw_asset(spec)

    @step(task_id="validate", outlets=[asset])
    def validate(ingested: dict[str, Any], **context: Any) -> dict[str, Any]:
        from pipelines.profile import champion_learned_suite
        from pipelines.validate import validate_day

        day = date.fromisoformat(ingested["date"])
        with step_errors(spec, "validate", day):
            learned = champion_learned_suite(settings.tracking_uri(), spec)
            verdict = validate_day(settings.open_lake(), spec, day, learned=learned)
        for result in filter(None, (verdict.batch, verdict.labels)):
            log.info("%s\n  report: %s", result.summary(), result.report_uri)
        payload = verdict.to_dict()
        metrics.validation(spec.name, payload)
        quarantined(spec, payload)
        if verdict.blocked:
            batch = verdict.batch
            raise AirflowSkipException(
                f"{spec.name} {day}: batch blocked by validation "
                f"({', '.join(batch.reason_codes)}) and moved to {batch.quarantine_uri}; "
                f"review it with the mlops__quarantine_review DAG. {batch.summary()}"
            )
        emit(context, asset, {"date": payload["date"], "status": payload["status"]})
        return payload

    return validate


def quarantined(spec: ModelSpec, verdict: dict[str, Any]) -> None:
    """Alert when a night's batch or labels went (wholly or partly) to quarantine."""
    from mlops import notify

    for part in ("batch", "labels"):
        result = verdict.get(part)
        if result and (result["status"] == "block" or result["rows_dropped"]):
            what = "blocked" if result["status"] == "block" else f"{result['rows_dropped']} rows"
            text = (
                f"{spec.name}: {result['dataset']} {verdict['date']} quarantined ({what}): "
                f"{', '.join(result['reason_codes'])}. Review: mlops__quarantine_review"
            )
            notify.send("quarantine", text, {"model": spec.name, **result})


def features_task(spec: ModelSpec) -> Any:
    """Build the spec's features partition for the validated date."""
    asset = features_asset(spec)

    @step(task_id="features", outlets=[asset])
    def features(validated: dict[str, Any], **context: Any) -> dict[str, Any]:
        from pipelines.features import build_features

        day = date.fromisoformat(validated["date"])
        with step_errors(spec, "features", day):
            result = build_features(settings.open_lake(), spec, day)
        log.info(
            "features %s: %s rows at %s", spec.name, result.partition.rows, result.partition.uri
        )
        payload = result.to_dict()
        emit(context, asset, {"date": payload["date"], "rows": payload["rows"]})
        return payload

    return features


def train_task(spec: ModelSpec) -> Any:
    """Train on the labelled window known on the date, log to MLflow, register a version."""
    asset = model_asset(spec)

    @step(task_id="train", outlets=[asset])
    def train(built: dict[str, Any], **context: Any) -> dict[str, Any]:
        from pipelines.spec import with_training_overrides
        from pipelines.train import RunContext, overrides_key, run_type_name
        from pipelines.train import train as run_train

        day = date.fromisoformat(built["date"])
        ti, params = context["ti"], context.get("params") or {}
        overrides = params.get("overrides") or {}
        run_context = RunContext(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            try_number=ti.try_number,
            trigger=run_type_name(context["dag_run"].run_type),
            overrides=overrides_key(overrides),
            reason=str(params.get("reason") or ""),
        )
        with step_errors(spec, "train", day):
            result = run_train(
                settings.open_lake(),
                with_training_overrides(spec, overrides),
                day,
                settings.tracking_uri(),
                run_context,
                artifact_root=settings.artifact_root(),
            )
        # The same JSON the CLI writes (a pod's /airflow/xcom/return.json).
        return _publish_training(context, asset, spec, {"status": "done", **result.to_dict()})

    return train


TRAINING_FACTS = ("day", "version", "metric", "value", "gate", "alias")


def _publish_training(
    context: dict[str, Any], asset: Any, spec: ModelSpec, payload: dict[str, Any]
) -> dict[str, Any]:
    """Log a training result and put its facts on the model Asset event."""
    missing = [k for k in TRAINING_FACTS if k not in payload]
    if missing:
        raise AirflowFailException(
            f"{spec.name}: the training result lacks {', '.join(missing)}: {payload}"
        )
    log.info(
        "%s version %s: holdout %s=%.4f, gate %s, alias %r, reused=%s",
        spec.name,
        payload["version"],
        payload["metric"],
        payload["value"],
        payload["gate"],
        payload["alias"],
        payload.get("reused"),
    )
    emit(context, asset, {k: payload[k] for k in TRAINING_FACTS})
    if not payload.get("reused"):
        metrics.gate(spec.name, payload["gate"])
    return payload


def train_result_task(spec: ModelSpec) -> Any:
    """After a training pod: check the JSON it returned and announce the model Asset event."""
    asset = model_asset(spec)

    @step(task_id="train_result", outlets=[asset])
    def train_result(returned: dict[str, Any] | None, **context: Any) -> dict[str, Any]:
        if not isinstance(returned, dict) or returned.get("status") != "done":
            raise AirflowFailException(
                f"{spec.name}: the training pod returned no result JSON ({returned!r}); "
                "see the train task's log"
            )
        return _publish_training(context, asset, spec, returned)

    return train_result
