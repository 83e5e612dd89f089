"""Train: fit the spec's algorithm on the labelled window, log it to MLflow, register a version.

Idempotent by (model, logical date): a version already registered for the date is returned
as it is, so re-runs and backfills never register a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import pipelines
from pipelines import __version__
from pipelines.dataset import (
    InputPartition,
    category_levels,
    check_trainable,
    labelled_window,
    model_matrix,
    time_split,
)
from pipelines.errors import NotRequestedError
from pipelines.gate import evaluate_gate, validation_metrics
from pipelines.model import CODE_PATH, as_model_input, model_requirements, write_artifacts
from pipelines.plots import log_plots
from pipelines.profile import LEARNED_SUITE_ARTIFACT, LEARNED_SUITE_TAG, learned_suite
from pipelines.reference import log_reference
from pipelines.registry import CHAMPION, alias_version, apply_gate, check_reachable, gate_tags
from pipelines.spec import ModelSpec
from pipelines.storage import Lake
from pipelines.trainers import FittedModel, fit

TAG_PREFIX = "mlops."
NIGHTLY = ("scheduled", "backfill")  # run types of the nightly schedule and its replays
log = logging.getLogger(__name__)


def run_type_name(value: object) -> str:
    """An Airflow run type as its plain name (``scheduled``), from the enum or its text."""
    text = str(getattr(value, "value", value) or "")
    return text.removeprefix("DagRunType.").lower()


@dataclass(frozen=True)
class RunContext:
    """Who asked for the run: Airflow ids from a task, or nothing from the CLI."""

    dag_id: str = ""
    run_id: str = ""
    try_number: int = 0
    trigger: str = ""  # the Airflow run type: scheduled, backfill, manual, asset_triggered
    overrides: str = ""  # JSON of the training fields a person changed for this run
    reason: str = ""  # why a person asked for this run
    code_version: str = __version__

    def actor(self) -> str:
        """Who decided, for the registry's audit tags."""
        return f"airflow:{self.dag_id}/{self.run_id}" if self.dag_id else "cli"

    def tags(self) -> dict[str, str]:
        return {f"{TAG_PREFIX}airflow.{k}": str(v) for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class TrainResult:
    """The registered model version for one (model, date) and its validation metrics."""

    model: str
    day: date
    run_id: str
    version: str
    metric: str
    value: float  # the gate metric on the holdout
    rows_train: int
    rows_valid: int
    rows_holdout: int
    gate: str  # "pass", "fail" or "insufficient_sample"
    alias: str  # the alias the version holds after this run ("" for none)
    reused: bool

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat()}


OVERRIDES_TAG = f"{TAG_PREFIX}airflow.overrides"


def overrides_key(overrides: dict[str, Any] | None) -> str:
    """Overrides as canonical JSON: the same change gives the same tag wherever it runs."""
    return json.dumps(overrides, sort_keys=True, separators=(",", ":")) if overrides else ""


def find_registered(client: Any, spec: ModelSpec, day: date, overrides: str = "") -> Any | None:
    """The version already registered for (model, date) with the same overrides, if any."""
    query = f"name='{spec.name}' and tags.`{TAG_PREFIX}logical_date`='{day.isoformat()}'"
    found = [
        v
        for v in client.search_model_versions(query)
        if (v.tags or {}).get(OVERRIDES_TAG, "") == overrides
    ]
    return min(found, key=lambda v: int(v.version)) if found else None


def train(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    tracking_uri: str,
    context: RunContext | None = None,
    artifact_root: str | None = None,
) -> TrainResult:
    """Fit on the labelled window known on ``day``, gate it, register one MLflow version.

    Order matters for crash safety: everything is computed and logged first, then the version
    is registered with all its tags in one call, then aliases move. A re-run finds the
    version by its date tag and only finishes what is missing.
    """
    import mlflow
    from mlflow import MlflowClient

    context = context or RunContext()
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    check_reachable(client, tracking_uri)
    existing = find_registered(client, spec, day, context.overrides)
    if existing is not None:
        return _reuse(client, spec, day, existing, context.actor())
    on_request = context.trigger in NIGHTLY and not spec.retraining.nightly
    if on_request and alias_version(client, spec.name, CHAMPION) is not None:
        raise NotRequestedError(
            f"{spec.name} {day}: retraining.nightly is false, so this model trains only "
            "when monitoring requests it (or on a manual run)"
        )

    window = labelled_window(lake, spec, day)
    split = time_split(window, spec)
    check_trainable(split, spec)
    levels = category_levels(split.train, spec)
    fitted = fit(
        spec,
        model_matrix(split.train, spec, levels),
        split.train[spec.label.name].to_numpy(),
        model_matrix(split.valid, spec, levels),
        split.valid[spec.label.name].to_numpy(),
    )
    y_holdout = split.holdout[spec.label.name].to_numpy()
    predicted = fitted.predict(model_matrix(split.holdout, spec, levels))
    champion = _champion_predictions(client, spec, split.holdout)
    decision = evaluate_gate(
        spec.gates,
        y_holdout,
        predicted,
        champion,
        split.holdout[spec.slices] if spec.slices else None,
        seed=spec.training.seed,
    )
    log.info("%s %s gate: %s %s", spec.name, day, decision.decision, decision.reasons)

    sizes = {"rows_train": len(split.train), "rows_valid": len(split.valid)}
    sizes["rows_holdout"] = len(split.holdout)
    tags = {
        f"{TAG_PREFIX}model": spec.name,
        f"{TAG_PREFIX}logical_date": day.isoformat(),
        f"{TAG_PREFIX}spec_hash": spec.fingerprint(),
        f"{TAG_PREFIX}code_version": context.code_version,
        f"{TAG_PREFIX}train_days": f"{window.days[0]}..{window.days[-1]}",
        f"{TAG_PREFIX}input_partitions": str(len(window.inputs)),
        f"{TAG_PREFIX}inputs_sha256": inputs_fingerprint(window.inputs),
        **context.tags(),
    }
    use_experiment(client, spec.name, artifact_root)
    with mlflow.start_run(run_name=f"{spec.name}-{day.isoformat()}", tags=tags) as run:
        mlflow.log_params(
            {
                "algorithm": spec.training.algorithm,
                "best_iteration": fitted.best_iteration,
                **fitted.params(),
            }
        )
        holdout_scores = validation_metrics(spec.label.task, y_holdout, predicted)
        mlflow.log_metrics({**holdout_scores, **sizes})
        mlflow.log_dict(_lineage(window, spec, levels), "lineage.json")
        mlflow.log_dict(decision.to_dict(), "gate.json")
        mlflow.log_dict(fitted.importance(), "importance.json")
        mlflow.log_dict(learned_suite(split.train, spec), LEARNED_SUITE_ARTIFACT)
        validation = _log_validation(lake, spec, day)
        reference = log_reference(
            spec,
            split.train,
            split.holdout,
            predicted,
            decision.challenger,
            predict=lambda rows: fitted.predict(model_matrix(rows, spec, levels)),
        )
        log_plots(fitted.importance(), spec.label.task, y_holdout, predicted)
        model_uri = _log_model(fitted, spec, levels, split.holdout)
        version = mlflow.register_model(
            model_uri,
            spec.name,
            tags={
                **tags,
                **gate_tags(decision),
                f"{TAG_PREFIX}run_id": run.info.run_id,
                f"{TAG_PREFIX}lineage_uri": f"runs:/{run.info.run_id}/lineage.json",
                LEARNED_SUITE_TAG: f"runs:/{run.info.run_id}/{LEARNED_SUITE_ARTIFACT}",
                **validation,
                **reference,
            },
        )
    alias = apply_gate(
        client,
        spec.name,
        str(version.version),
        decision.passed,
        decision.reasons,
        context.actor(),
    )
    return TrainResult(
        model=spec.name,
        day=day,
        run_id=run.info.run_id,
        version=str(version.version),
        metric=spec.gates.metric,
        value=decision.challenger,
        gate=decision.decision,
        alias=alias,
        reused=False,
        **sizes,
    )


def _log_validation(lake: Lake, spec: ModelSpec, day: date) -> dict[str, str]:
    """Log the day's validation verdict with the run; returns the tags that flag it."""
    import mlflow

    from pipelines.validate import ValidationResult, report_folder, result_path

    path = result_path(spec.source.dataset, day)
    if not lake.exists_path(path):
        return {f"{TAG_PREFIX}validation.status": "not_validated"}
    result = ValidationResult.from_dict(lake.read_json(path))
    mlflow.log_dict(result.to_dict(), "validation/result.json")
    report = f"{report_folder(spec.source.dataset, day)}/report.html"
    if lake.exists_path(report):
        mlflow.log_text(lake.read_bytes(report).decode(), "validation/report.html")
    tags = {
        f"{TAG_PREFIX}validation.status": result.status,
        f"{TAG_PREFIX}validation.uri": lake.uri(lake.path(path)),
    }
    if result.reason_codes:
        tags[f"{TAG_PREFIX}validation.reason_codes"] = ",".join(result.reason_codes)
    if result.accepted_by:
        tags[f"{TAG_PREFIX}validation.accepted_by"] = result.accepted_by
    mlflow.set_tags(tags)
    return tags


def _champion_predictions(client: Any, spec: ModelSpec, rows: pd.DataFrame) -> np.ndarray | None:
    """The current champion's predictions on the same holdout rows (None without one)."""
    import mlflow

    if alias_version(client, spec.name, CHAMPION) is None:
        return None
    from pipelines.score import predict_logged

    champion = mlflow.pyfunc.load_model(f"models:/{spec.name}@{CHAMPION}")
    return predict_logged(champion, rows, spec)


def inputs_fingerprint(inputs: list[InputPartition]) -> str:
    """One hash over every input partition's URI and content hash (lineage.json has each)."""
    digest = hashlib.sha256()
    for item in sorted(inputs, key=lambda i: i.uri):
        digest.update(f"{item.uri}\t{item.sha256}\n".encode())
    return digest.hexdigest()


def _lineage(window: Any, spec: ModelSpec, levels: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "inputs": [asdict(p) for p in window.inputs],
        "days": [d.isoformat() for d in window.days],
        "spec_hash": spec.fingerprint(),
        "category_levels": levels,
    }


def _log_model(
    fitted: FittedModel, spec: ModelSpec, levels: dict[str, list[str]], rows: pd.DataFrame
) -> str:
    """Log the pyfunc (model from code) with signature and input example; returns its URI."""
    import mlflow

    example = as_model_input(rows.head(5), spec)
    predicted = fitted.predict(model_matrix(example, spec, levels))
    with tempfile.TemporaryDirectory() as folder:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CODE_PATH,
            artifacts=write_artifacts(Path(folder), fitted, spec, levels),
            signature=mlflow.models.infer_signature(example, predicted),
            input_example=example,
            code_paths=[str(Path(pipelines.__file__).parent)],
            pip_requirements=model_requirements(fitted.algorithm),
        )
    return str(info.model_uri)


def use_experiment(client: Any, name: str, artifact_root: str | None) -> str:
    """The experiment ``name`` (created with artifacts under ``artifact_root`` when the store
    has no default), made active; returns its id."""
    import mlflow

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
        client.create_experiment(name, artifact_location=location)
    return str(mlflow.set_experiment(name).experiment_id)


def _reuse(client: Any, spec: ModelSpec, day: date, version: Any, actor: str) -> TrainResult:
    """Return the date's version, finishing an alias move a crashed run left undone."""
    tags = version.tags
    gate = tags.get(f"{TAG_PREFIX}gate.decision", "")
    alias = next(iter(version.aliases), "") if version.aliases else ""
    if f"{TAG_PREFIX}decision" not in tags:
        reasons = json.loads(tags.get(f"{TAG_PREFIX}gate.reasons", "[]"))
        alias = apply_gate(client, spec.name, str(version.version), gate == "pass", reasons, actor)
    metrics = client.get_run(version.run_id).data.metrics
    return TrainResult(
        model=spec.name,
        day=day,
        run_id=version.run_id,
        version=str(version.version),
        metric=spec.gates.metric,
        value=float(metrics.get(spec.gates.metric, float("nan"))),
        rows_train=int(metrics.get("rows_train", 0)),
        rows_valid=int(metrics.get("rows_valid", 0)),
        rows_holdout=int(metrics.get("rows_holdout", 0)),
        gate=gate,
        alias=alias,
        reused=True,
    )
