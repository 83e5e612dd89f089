"""One MLflow run per (model, date): what a person needs to trust a version, logged before it
is registered. Params and holdout metrics, ``lineage.json`` (every input partition with its
hash, the spec's fingerprint, the category levels), ``gate.json``, ``importance.json``, the
learned validation suite, the day's validation verdict, monitoring's reference profile, plots,
and the pyfunc model (from code: signature, input example, pinned requirements)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pipelines
from pipelines.core import layout
from pipelines.core.layout import Artifacts, Tags
from pipelines.core.metrics import holdout_metrics
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.monitoring.reference import log_reference
from pipelines.training.context import RunContext
from pipelines.training.dataset import InputPartition, LabelledWindow
from pipelines.training.fit import Candidate
from pipelines.training.plots import log_plots
from pipelines.training.pyfunc import CODE_PATH, as_model_input, model_requirements, write_artifacts
from pipelines.validation.learned import learned_suite
from pipelines.validation.results import ValidationResult


@dataclass(frozen=True)
class LoggedRun:
    """The run a candidate was logged to, its model's URI, and the tags its version gets."""

    run_id: str
    model_uri: str
    tags: dict[str, str]


def run_tags(
    spec: ModelSpec, day: date, window: LabelledWindow, context: RunContext
) -> dict[str, str]:
    """Lineage tags shared by the run and the version."""
    return {
        Tags.MODEL: spec.name,
        Tags.LOGICAL_DATE: day.isoformat(),
        Tags.SPEC_HASH: spec.fingerprint(),
        Tags.CODE_VERSION: context.code_version,
        Tags.TRAIN_DAYS: f"{window.days[0]}..{window.days[-1]}",
        Tags.INPUT_PARTITIONS: str(len(window.inputs)),
        Tags.INPUTS_SHA256: inputs_fingerprint(window.inputs),
        **context.tags(),
    }


def log_candidate(
    registry: Registry,
    lake: Lake,
    day: date,
    candidate: Candidate,
    context: RunContext,
    artifact_root: str | None = None,
) -> LoggedRun:
    """Log everything about ``candidate`` to a new run of the model's experiment."""
    import mlflow

    spec, fitted = candidate.spec, candidate.model
    tags = run_tags(spec, day, candidate.window, context)
    registry.use_experiment(spec.name, artifact_root)
    with mlflow.start_run(run_name=f"{spec.name}-{day.isoformat()}", tags=tags) as run:
        params = {"algorithm": spec.training.algorithm, "best_iteration": fitted.best_iteration}
        mlflow.log_params({**params, **fitted.params()})
        scores = holdout_metrics(spec.label.task, candidate.y_holdout, candidate.predicted)
        mlflow.log_metrics({**scores, **candidate.sizes()})
        mlflow.log_dict(_lineage(candidate), Artifacts.LINEAGE)
        mlflow.log_dict(candidate.decision.to_dict(), Artifacts.GATE)
        mlflow.log_dict(fitted.importance(), Artifacts.IMPORTANCE)
        mlflow.log_dict(learned_suite(candidate.split.train, spec), Artifacts.LEARNED_SUITE)
        validation = _log_validation(lake, spec, day)
        reference = log_reference(
            spec,
            candidate.split.train,
            candidate.split.holdout,
            candidate.predicted,
            candidate.decision.challenger,
            predict=candidate.predict,
        )
        log_plots(fitted.importance(), spec.label.task, candidate.y_holdout, candidate.predicted)
        model_uri = _log_model(candidate)
        run_id = run.info.run_id
    version_tags = {
        **tags,
        Tags.RUN_ID: run_id,
        Tags.LINEAGE_URI: f"runs:/{run_id}/{Artifacts.LINEAGE}",
        Tags.LEARNED_SUITE_URI: f"runs:/{run_id}/{Artifacts.LEARNED_SUITE}",
        **validation,
        **reference,
    }
    return LoggedRun(run_id=run_id, model_uri=model_uri, tags=version_tags)


def _log_validation(lake: Lake, spec: ModelSpec, day: date) -> dict[str, str]:
    """Log the day's validation verdict with the run; returns the tags that flag it."""
    import mlflow

    dataset = spec.source.dataset
    path = layout.validation_result(dataset, day)
    if not lake.exists_path(path):
        return {Tags.VALIDATION_STATUS: "not_validated"}
    result = ValidationResult.from_dict(lake.read_json(path))
    mlflow.log_dict(result.to_dict(), Artifacts.VALIDATION_RESULT)
    report = layout.validation_report(dataset, day)
    if lake.exists_path(report):
        mlflow.log_text(lake.read_bytes(report).decode(), Artifacts.VALIDATION_REPORT)
    tags = {
        Tags.VALIDATION_STATUS: result.status,
        Tags.VALIDATION_URI: lake.uri(lake.path(path)),
    }
    if result.reason_codes:
        tags[Tags.VALIDATION_REASON_CODES] = ",".join(result.reason_codes)
    if result.accepted_by:
        tags[Tags.VALIDATION_ACCEPTED_BY] = result.accepted_by
    mlflow.set_tags(tags)
    return tags


def inputs_fingerprint(inputs: list[InputPartition]) -> str:
    """One hash over every input partition's URI and content hash (lineage.json has each)."""
    digest = hashlib.sha256()
    for item in sorted(inputs, key=lambda i: i.uri):
        digest.update(f"{item.uri}\t{item.sha256}\n".encode())
    return digest.hexdigest()


def _lineage(candidate: Candidate) -> dict[str, Any]:
    window = candidate.window
    return {
        "inputs": [asdict(p) for p in window.inputs],
        "days": [d.isoformat() for d in window.days],
        "spec_hash": candidate.spec.fingerprint(),
        "category_levels": candidate.levels,
    }


def _log_model(candidate: Candidate) -> str:
    """Log the pyfunc (model from code) with signature and input example; returns its URI."""
    import mlflow

    spec = candidate.spec
    example = as_model_input(candidate.split.holdout.head(5), spec)
    predicted = candidate.predict(example)
    with tempfile.TemporaryDirectory() as folder:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CODE_PATH,
            artifacts=write_artifacts(Path(folder), candidate.model, spec, candidate.levels),
            signature=mlflow.models.infer_signature(example, predicted),
            input_example=example,
            code_paths=[str(Path(pipelines.__file__).parent)],
            pip_requirements=model_requirements(candidate.model.algorithm),
        )
    return str(info.model_uri)
