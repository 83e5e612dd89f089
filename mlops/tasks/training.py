"""The training DAGs' tasks: ingest -> validate -> features -> train (or a training pod and
``train_result``), the retraining DAG's ``request``, and the policy that decides whether a
nightly run trains at all.

Steps are imported inside the task bodies (see ``mlops/tasks/__init__.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlops import metrics, notify, settings
from mlops.assets import features_asset, model_asset, raw_asset
from mlops.runtime import emit, partition_day, step, step_errors
from pipelines.core.layout import CHAMPION
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec, with_training_overrides
from pipelines.training.context import RunContext, overrides_key, run_type_name

log = logging.getLogger(__name__)
NIGHTLY = ("scheduled", "backfill")  # run types of the nightly schedule and its replays
TRAINING_FACTS = ("day", "version", "metric", "value", "gate", "alias")


def trains_on_request_only(spec: ModelSpec) -> Callable[[dict[str, Any]], None]:
    """The train task's pre-execute hook: a nightly run of a model with
    ``retraining.nightly: false`` skips once a champion exists (it trains in the retraining
    DAG on monitoring's request, on a manual run, or to get its first champion). Decided
    before a pod is started."""

    def skip_unless_requested(context: dict[str, Any]) -> None:
        if spec.retraining.nightly or run_type_name(context["dag_run"].run_type) not in NIGHTLY:
            return
        if Registry(settings.tracking_uri()).alias_version(spec.name, CHAMPION) is not None:
            raise AirflowSkipException(
                f"{spec.name}: retraining.nightly is false, so this model trains only when "
                "monitoring requests it (or on a manual run)"
            )

    return skip_unless_requested


def ingest_task(spec: ModelSpec) -> Any:
    """Land night D's deliveries in ``landing/``; skip with the reason when D has no data."""

    @step(task_id="ingest")
    def ingest(**context: Any) -> dict[str, Any]:
        from pipelines.sources.ingest import ingest as run_ingest

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
        from pipelines.validation.learned import champion_learned_suite
        from pipelines.validation.run import validate_day

        day = date.fromisoformat(ingested["date"])
        with step_errors(spec, "validate", day):
            learned = champion_learned_suite(Registry(settings.tracking_uri()), spec)
            verdict = validate_day(settings.open_lake(), spec, day, learned=learned)
        for result in filter(None, (verdict.batch, verdict.labels, *verdict.late_labels)):
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
        from pipelines.features.build import build_features

        day = date.fromisoformat(validated["date"])
        with step_errors(spec, "features", day):
            result = build_features(settings.open_lake(), spec, day)
        log.info(
            "features %s: %s rows at %s", spec.name, result.partition.rows, result.partition.uri
        )
        payload = result.to_dict()
        emit(context, asset, {"date": payload["date"], "rows": payload["rows"]}, [payload["date"]])
        return payload

    return features


def retrain_request_task(spec: ModelSpec) -> Any:
    """The retraining DAG's first step: the day monitoring asked to retrain on (the run's
    partition) and why; skips when that day's features are missing (nothing to train on)."""

    @step(task_id="request")
    def request(**context: Any) -> dict[str, Any]:
        from pipelines.core.layout import FEATURES

        day = partition_day(context, spec)
        why = [
            str(reason)
            for asset_events in (context.get("triggering_asset_events") or {}).values()
            for event in asset_events
            for reason in (event.extra or {}).get("why", [])
        ]
        if not settings.open_lake().exists(FEATURES, spec.name, day):
            raise AirflowSkipException(
                f"{spec.name} {day}: no features partition to retrain on; run the training "
                f"DAG for {day} first"
            )
        log.info("%s: retrain on %s requested: %s", spec.name, day, "; ".join(why) or "-")
        return {"date": day.isoformat(), "why": why, "requested": True}

    return request


def train_task(spec: ModelSpec) -> Any:
    """Train on the labelled window known on the date, log to MLflow, register a version."""
    asset = model_asset(spec)

    @step(task_id="train", outlets=[asset], pre_execute=trains_on_request_only(spec))
    def train(built: dict[str, Any], **context: Any) -> dict[str, Any]:
        from pipelines.serving.history import backfill_of
        from pipelines.training.train import train as run_train

        day = date.fromisoformat(built["date"])
        lake = settings.open_lake()
        # Monitoring asks only for days at the frontier: a retrain that ends after the next
        # night moved the frontier (a long queue for a GPU) is still the present's.
        requested = bool(built.get("requested"))
        backfill = None if requested else backfill_of(lake, spec.name, day, spec.schedules.timezone)
        if backfill is not None:
            log.info("%s %s is behind the frontier %s: a backfill", spec.name, day, backfill)
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
                lake,
                with_training_overrides(spec, overrides),
                day,
                settings.tracking_uri(),
                run_context,
                artifact_root=settings.artifact_root(),
                backfill=backfill,
            )
        # The same JSON the CLI writes (a pod's /airflow/xcom/return.json).
        return publish_training(context, asset, spec, {"status": "done", **result.to_dict()})

    return train


def publish_training(
    context: dict[str, Any], asset: Any, spec: ModelSpec, payload: dict[str, Any]
) -> dict[str, Any]:
    """Log a training result and put its facts on the model Asset event."""
    missing = [k for k in TRAINING_FACTS if k not in payload]
    if missing:
        raise AirflowFailException(
            f"{spec.name}: the training result lacks {', '.join(missing)}: {payload}"
        )
    log.info(
        "%s version %s: holdout %s=%s, gate %s, alias %r, reused=%s",
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
        return publish_training(context, asset, spec, returned)

    return train_result
