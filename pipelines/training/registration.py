"""A trained version in the registry: found again by its date (idempotency), registered with
all its tags in one call, and given the alias the gate decided, with the decision recorded as
tags (``mlops.decision*``), so the registry alone says what happened and why.

The first version that passes becomes ``champion`` (a "bootstrap"); later ones that pass
become ``challenger`` for the promotion strategy to elevate, or, while another version is
being rolled out, wait without an alias (tagged ``challenger``) for that rollout to end;
failures are tagged ``rejected``. Applying a decision is idempotent: a re-run after a crash
between "registered" and "alias moved" finishes the job without a duplicate.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pipelines.core.layout import (
    CHALLENGER,
    CHAMPION,
    TAG_VALUE_LIMIT,
    Tags,
    gate_tag,
    rollout_running,
)
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec
from pipelines.training.context import Backfill
from pipelines.training.fit import Predictor
from pipelines.training.gate import GateDecision
from pipelines.training.pyfunc import predict_logged

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion


def find_registered(
    registry: Registry, spec: ModelSpec, day: date, overrides: str = ""
) -> ModelVersion | None:
    """The version already registered for (model, date) with the same overrides, if any."""
    found = [
        v
        for v in registry.versions(spec.name, **{Tags.LOGICAL_DATE: day.isoformat()})
        if (v.tags or {}).get(Tags.OVERRIDES, "") == overrides
    ]
    return min(found, key=lambda v: int(v.version)) if found else None


def champion_predictor(
    registry: Registry, spec: ModelSpec, backfill: Backfill | None = None
) -> Predictor | None:
    """The champion to judge against, as a function of feature rows: the live one, or for a
    backfill the one that served then (None when there was none)."""
    if backfill is not None:
        version = backfill.champion
    else:
        live = registry.alias_version(spec.name, CHAMPION)
        version = str(live.version) if live is not None else None
    if version is None:
        return None
    champion = registry.load_model(spec.name, version)
    return lambda rows: predict_logged(champion, rows, spec)


def gate_tags(decision: GateDecision) -> dict[str, str]:
    """The gate's verdict as version tags (the full record is the run's gate.json)."""
    reasons = json.dumps(decision.reasons)
    tags = {
        gate_tag("decision"): decision.decision,
        gate_tag("metric"): decision.metric,
        gate_tag("value"): f"{decision.challenger:.6f}",
        gate_tag("holdout_rows"): str(decision.rows),
        gate_tag("reasons"): reasons[:TAG_VALUE_LIMIT],
    }
    if decision.champion is not None:
        tags[gate_tag("champion_value")] = f"{decision.champion:.6f}"
        tags[gate_tag("ci")] = f"[{decision.ci_low:+.6f}, {decision.ci_high:+.6f}]"
    return tags


def apply_gate(
    registry: Registry, model: str, version: str, passed: bool, reasons: list[str], actor: str
) -> str:
    """Move aliases for a gated version; returns the alias it now holds ('' if none)."""
    if not passed:
        record_decision(registry, model, version, "rejected", actor, "; ".join(reasons))
        return ""
    champion = registry.alias_version(model, CHAMPION)
    if champion is None or str(champion.version) == str(version):
        registry.set_alias(model, CHAMPION, version)
        why = "first version to pass"
        record_decision(registry, model, version, "bootstrap_champion", actor, why)
        return CHAMPION
    why = f"passed the gate vs v{champion.version}"
    current = registry.alias_version(model, CHALLENGER)
    running = current is not None and rollout_running(current.tags or {})
    if running and current is not None and str(current.version) != str(version):
        # A running rollout is never preempted: this version waits for it to end.
        why += f"; waits for the rollout of v{current.version} to end"
        record_decision(registry, model, version, "challenger", actor, why)
        return ""
    registry.set_alias(model, CHALLENGER, version)
    record_decision(registry, model, version, "challenger", actor, why)
    return CHALLENGER


def record_backfill(
    registry: Registry, model: str, version: str, backfill: Backfill, passed: bool, actor: str
) -> str:
    """A version trained for a date behind the frontier: recorded, no alias moved (''),
    whatever the gate said."""
    judged = f"v{backfill.champion}" if backfill.champion else "no champion"
    why = (
        f"trained for a date behind the frontier {backfill.frontier}; judged against {judged} "
        f"({'passed' if passed else 'did not pass'}); a backfill moves no alias"
    )
    record_decision(registry, model, version, "backfill", actor, why)
    return ""


def record_decision(
    registry: Registry, model: str, version: str, what: str, actor: str, why: str
) -> None:
    """What training decided about a version, by whom, when and why, as its tags."""
    registry.set_tags(
        model,
        version,
        {
            Tags.DECISION: what,
            Tags.DECISION_BY: actor,
            Tags.DECISION_AT: datetime.now(UTC).isoformat(),
            Tags.DECISION_WHY: why[:TAG_VALUE_LIMIT],
        },
    )
