"""One CLI for every step, so a Kubernetes pod, a shell and an Airflow task run the same code.

    python -m pipelines init-model --name NAME --sample FILE --label COLUMN
    python -m pipelines ingest|validate|features|train|score|promote|monitor --model NAME --date D
    python -m pipelines rollback --model NAME [--version V] --reason TEXT
    python -m pipelines validate --model NAME --input URI [--date D] [--labels]

``validate --input`` checks any file against the model's contract without moving it and
exits 1 when the verdict is ``block``; ``validate --date`` is the DAG's step (landing -> raw or
quarantine).

Each command imports its step when it runs, so ``--help`` and a pod's start pay only for
what they use. Settings come from flags or the environment: ``MLOPS_MODELS_DIR``,
``MLOPS_LAKE_URI``, ``MLFLOW_TRACKING_URI``, ``MLOPS_ARTIFACT_ROOT``; S3 credentials and
``AWS_ENDPOINT_URL`` are read by boto as usual (an empty value counts as unset).
``--spec-fingerprint`` makes a pod refuse a spec that differs from the one Airflow parsed.
The result is one JSON object on stdout and, with ``--output``, in a file
(``/airflow/xcom/return.json`` in a pod). Exit codes: 0 done, 99 skipped (no data for the
date, or no champion yet; the training pod's ``skip_on_exit_code``), 1 failed, 2 bad usage
or spec.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.core.errors import SKIPS, PipelineError, SpecError

if TYPE_CHECKING:
    from pipelines.core.spec import ModelSpec
    from pipelines.core.storage import Lake

STEPS = ("ingest", "validate", "features", "train", "score", "promote", "rollback", "monitor")
EXIT_SKIPPED = 99
EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init-model", help="draft include/models/NAME.yaml from a sample")
    init.add_argument("--name", required=True)
    init.add_argument("--sample", required=True, type=Path, help="a .parquet or .csv file")
    init.add_argument("--label", required=True, help="the target column")
    init.add_argument("--out", type=Path, default=None, help="folder (default: models dir)")
    init.add_argument("--force", action="store_true", help="overwrite an existing spec")

    for step in STEPS:
        sub = commands.add_parser(step, help=f"run the {step} step for one model and date")
        sub.add_argument("--model", required=True)
        dated = step not in ("validate", "rollback")
        sub.add_argument("--date", required=dated, type=date.fromisoformat)
        if step == "validate":
            sub.add_argument("--input", default=None, help="check this file only (any URI)")
            sub.add_argument("--labels", action="store_true", help="the file holds labels")
        if step in ("score", "rollback"):
            sub.add_argument("--version", default=None, help="this registered version")
        if step == "rollback":
            sub.add_argument("--reason", required=True, help="recorded in the history")
        if step == "train":
            sub.add_argument(
                "--requested",
                action="store_true",
                help="monitoring asked for this retrain: never a backfill, whenever it runs",
            )
        sub.add_argument("--models-dir", type=Path, default=None)
        sub.add_argument("--lake", default=None, help="lake root URI (default $MLOPS_LAKE_URI)")
        sub.add_argument("--output", type=Path, default=None, help="also write the JSON here")
        sub.add_argument(
            "--spec-fingerprint",
            default=None,
            help="refuse to run unless the spec found here has this fingerprint (pods: the "
            "spec baked into the image must be the one Airflow parsed)",
        )
    return parser


def _models_dir(args: argparse.Namespace) -> Path:
    configured = getattr(args, "models_dir", None) or os.environ.get("MLOPS_MODELS_DIR")
    return Path(configured) if configured else Path("include/models")


def _load_spec(args: argparse.Namespace) -> ModelSpec:
    from pipelines.core.spec import load_spec

    path = _models_dir(args) / f"{args.model}.yaml"
    spec = load_spec(path)
    expected = args.spec_fingerprint
    if expected and spec.fingerprint() != expected:
        raise SpecError(
            f"{path} has fingerprint {spec.fingerprint()}, but the caller parsed {expected}: "
            "the spec differs from the one Airflow scheduled (rebuild the training image "
            "from the same commit as the DAGs)"
        )
    return spec


def _run_step(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.core.storage import Lake

    spec = _load_spec(args)
    if args.command == "validate" and args.input:
        from pipelines.validation.run import validate_file

        return validate_file(spec, args.input, args.date, "labels" if args.labels else "batch")
    if args.date is None and args.command != "rollback":
        raise SpecError(f"{args.command}: --date is required (or --input for one file)")
    lake_root = args.lake or os.environ.get("MLOPS_LAKE_URI")
    if not lake_root:
        raise SpecError("no lake: pass --lake or set MLOPS_LAKE_URI")
    return COMMANDS[args.command](args, Lake(lake_root), spec)


def _tracking() -> str:
    tracking = os.environ.get("MLFLOW_TRACKING_URI")
    if not tracking:
        raise SpecError("no MLflow: set MLFLOW_TRACKING_URI")
    return tracking


def _ingest(args: argparse.Namespace, lake: Lake, spec: ModelSpec) -> dict[str, Any]:
    from pipelines.sources.ingest import ingest

    return ingest(lake, spec, args.date).to_dict()


def _validate(args: argparse.Namespace, lake: Lake, spec: ModelSpec) -> dict[str, Any]:
    """The DAG's validate step; the champion's learned checks when MLflow is configured."""
    from pipelines.core.registry import Registry
    from pipelines.validation.learned import champion_learned_suite
    from pipelines.validation.run import validate_day

    tracking = os.environ.get("MLFLOW_TRACKING_URI")
    learned = champion_learned_suite(Registry(tracking), spec) if tracking else None
    return validate_day(lake, spec, args.date, learned=learned).to_dict()


def _features(args: argparse.Namespace, lake: Lake, spec: ModelSpec) -> dict[str, Any]:
    from pipelines.features.build import build_features

    return build_features(lake, spec, args.date).to_dict()


def _train(args: argparse.Namespace, lake: Lake, spec: ModelSpec) -> dict[str, Any]:
    """Train; a pod also gets the retrain form's overrides and reason through the env."""
    from pipelines.core.spec import with_training_overrides
    from pipelines.serving.history import backfill_of
    from pipelines.training.context import RunContext, overrides_key, run_type_name
    from pipelines.training.train import train

    raw = os.environ.get("MLOPS_TRAINING_OVERRIDES") or "{}"
    try:
        overrides = json.loads(raw)
    except ValueError:
        overrides = None
    if not isinstance(overrides, dict):
        raise SpecError(f"MLOPS_TRAINING_OVERRIDES must be a JSON object, got {raw!r}")
    spec = with_training_overrides(spec, overrides)
    context = RunContext(
        dag_id=os.environ.get("AIRFLOW_CTX_DAG_ID", ""),
        run_id=os.environ.get("AIRFLOW_CTX_DAG_RUN_ID", ""),
        try_number=int(os.environ.get("AIRFLOW_CTX_TRY_NUMBER", "0") or 0),
        trigger=run_type_name(os.environ.get("AIRFLOW_CTX_DAG_RUN_TYPE") or "manual"),
        overrides=overrides_key(overrides),
        reason=os.environ.get("MLOPS_RUN_REASON", ""),
    )
    artifacts = os.environ.get("MLOPS_ARTIFACT_ROOT")
    tz = spec.schedules.timezone
    backfill = None if args.requested else backfill_of(lake, spec.name, args.date, tz)
    result = train(lake, spec, args.date, _tracking(), context, artifacts, backfill)
    return result.to_dict()


def _monitor(args: argparse.Namespace, lake: Lake, spec: ModelSpec) -> dict[str, Any]:
    """Drift, live performance, the Evidently report and the guarded retrain decision."""
    from pipelines.monitoring import runs
    from pipelines.monitoring.evidently_report import report_skipped
    from pipelines.serving.history import frontier

    tracking, artifacts = _tracking(), os.environ.get("MLOPS_ARTIFACT_ROOT")
    result, run_id = runs.check(lake, spec, args.date, tracking, artifacts)
    skipped, report = report_skipped(lake, spec, args.date, result.drifted), None
    if not skipped:
        files, _ = runs.report(lake, spec, args.date, tracking, result.version, artifacts)
        report = files.html
    newest = frontier(lake, spec.name)
    decision = runs.decide(lake, spec, args.date, tracking, result.triggers, artifacts, newest)
    return {
        **result.summary(),
        "report": report,
        "report_skipped": skipped,
        "mlflow_run": run_id,
        "retrain": decision.retrain,
        "why": decision.why,
    }


def _actor() -> str:
    return f"cli:{os.environ.get('USER', 'unknown')}"


def _score(args: argparse.Namespace, lake: Lake, spec: ModelSpec) -> dict[str, Any]:
    """Score ``--date`` with the versions serving at its end (or ``--version``)."""
    from pipelines.core.calendar import day_end
    from pipelines.serving.runs import scoring_run

    at = day_end(args.date, spec.schedules.timezone)
    result = scoring_run(lake, spec, args.date, _tracking(), at, _actor(), args.version)
    return result.to_dict()


def _promote(args: argparse.Namespace, lake: Lake, spec: ModelSpec) -> dict[str, Any]:
    """One promotion decision at the end of ``--date``."""
    from pipelines.core.calendar import day_end
    from pipelines.serving.runs import promotion_run

    at = day_end(args.date, spec.schedules.timezone)
    return promotion_run(lake, spec, _tracking(), at, _actor())


def _rollback(args: argparse.Namespace, lake: Lake, spec: ModelSpec) -> dict[str, Any]:
    """Roll back now, to ``--version`` or the previous champion."""
    from datetime import UTC, datetime

    from pipelines.serving.runs import rollback_run

    now = datetime.now(UTC)
    return rollback_run(lake, spec, _tracking(), args.version, args.reason, now, _actor())


Command = Callable[[argparse.Namespace, "Lake", "ModelSpec"], dict[str, Any]]
COMMANDS: dict[str, Command] = {
    "ingest": _ingest,
    "validate": _validate,
    "features": _features,
    "train": _train,
    "score": _score,
    "promote": _promote,
    "rollback": _rollback,
    "monitor": _monitor,
}


def _init_model(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.scaffold import init_model

    path = init_model(args.name, args.sample, args.label, args.out or _models_dir(args), args.force)
    return {"status": "written", "spec": str(path)}


def _emit(payload: dict[str, Any], output: Path | None) -> None:
    from pipelines.core.jsonsafe import json_safe

    text = json.dumps(json_safe(payload), default=str, allow_nan=False)
    sys.stdout.write(text + "\n")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    action: Callable[[argparse.Namespace], dict[str, Any]] = (
        _init_model if args.command == "init-model" else _run_step
    )
    output = getattr(args, "output", None)
    try:
        payload = {"status": "done", **action(args)}
        code = EXIT_FAILED if payload["status"] == "block" else 0
    except SKIPS as exc:
        payload, code = {"status": "skipped", "reason": str(exc)}, EXIT_SKIPPED
    except SpecError as exc:
        payload, code = {"status": "failed", "reason": str(exc)}, EXIT_USAGE
    except PipelineError as exc:
        payload, code = {"status": "failed", "reason": str(exc)}, EXIT_FAILED
    if code:
        reason = payload.get("reason") or "; ".join(payload.get("reasons", [])) or payload["status"]
        sys.stderr.write(f"{args.command}: {reason}\n")
    _emit(payload, output)
    return code
