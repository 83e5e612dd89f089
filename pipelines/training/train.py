"""Train: fit the spec's algorithm on the labelled window, log it to MLflow, register a version.

Idempotent by (model, logical date): a version already registered for the date is returned
as it is, so re-runs and backfills never register a duplicate. Order matters for crash
safety: everything is computed and logged first (pipelines/training/fit.py, tracking.py),
then the version is registered with all its tags in one call, then aliases move
(registration.py). A re-run finds the version by its date tag and only finishes what is
missing. Whether a run should train at all (a nightly run of a model that trains on
request) is the DAG layer's decision, made before this is called; so is whether the date is
behind the model's frontier (a ``Backfill``: judged against what served then, tagged, no
alias moved).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pipelines.core.jsonsafe import json_safe
from pipelines.core.layout import Tags, gate_tag
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.training.context import Backfill, RunContext
from pipelines.training.fit import fit_and_gate
from pipelines.training.registration import (
    apply_gate,
    champion_predictor,
    find_registered,
    gate_tags,
    record_backfill,
)
from pipelines.training.tracking import log_candidate

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """The registered model version for one (model, date) and its validation metrics."""

    model: str
    day: date
    run_id: str
    version: str
    metric: str
    value: float  # the gate metric on the holdout (NaN when undefined: null in to_dict)
    rows_train: int
    rows_valid: int
    rows_holdout: int
    gate: str  # "pass", "fail" or "insufficient_sample"
    alias: str  # the alias the version holds after this run ("" for none)
    reused: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(json_safe({**asdict(self), "day": self.day.isoformat()}))


def train(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    tracking_uri: str,
    context: RunContext | None = None,
    artifact_root: str | None = None,
    backfill: Backfill | None = None,
) -> TrainResult:
    """Fit on the labelled window known on ``day``, gate it, register one MLflow version."""
    context = context or RunContext()
    registry = Registry(tracking_uri)
    registry.check_reachable()
    existing = find_registered(registry, spec, day, context.overrides)
    if existing is not None:
        return _reuse(registry, spec, day, existing, context.actor(), backfill)
    judge = champion_predictor(registry, spec, backfill)
    candidate = fit_and_gate(lake, spec, day, judge)
    decision = candidate.decision
    log.info("%s %s gate: %s %s", spec.name, day, decision.decision, decision.reasons)
    logged = log_candidate(registry, lake, day, candidate, context, artifact_root)
    tags = {**logged.tags, **gate_tags(decision), **(backfill.tags() if backfill else {})}
    version = str(registry.register(logged.model_uri, spec.name, tags).version)
    passed, reasons = decision.passed, decision.reasons
    alias = _decide_alias(registry, spec.name, version, passed, reasons, context.actor(), backfill)
    return TrainResult(
        model=spec.name,
        day=day,
        run_id=logged.run_id,
        version=version,
        metric=spec.gates.metric,
        value=decision.challenger,
        gate=decision.decision,
        alias=alias,
        reused=False,
        **candidate.sizes(),
    )


def _decide_alias(
    registry: Registry,
    model: str,
    version: str,
    passed: bool,
    reasons: list[str],
    actor: str,
    backfill: Backfill | None,
) -> str:
    """The alias the gate's verdict gives the version; none for a backfill."""
    if backfill is not None:
        return record_backfill(registry, model, version, backfill, passed, actor)
    return apply_gate(registry, model, version, passed, reasons, actor)


def _reuse(
    registry: Registry,
    spec: ModelSpec,
    day: date,
    version: ModelVersion,
    actor: str,
    backfill: Backfill | None,
) -> TrainResult:
    """Return the date's version, finishing an alias move a crashed run left undone."""
    tags = version.tags
    gate = tags.get(gate_tag("decision"), "")
    alias = next(iter(version.aliases), "") if version.aliases else ""
    if Tags.DECISION not in tags:
        reasons = json.loads(tags.get(gate_tag("reasons"), "[]"))
        number = str(version.version)
        alias = _decide_alias(registry, spec.name, number, gate == "pass", reasons, actor, backfill)
    run_id = version.run_id or ""
    metrics = registry.run(run_id).data.metrics if run_id else {}
    return TrainResult(
        model=spec.name,
        day=day,
        run_id=run_id,
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
