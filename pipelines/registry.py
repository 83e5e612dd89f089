"""Model-registry state in MLflow: aliases ``champion`` / ``challenger`` / ``previous`` and tags.

Never stages. Every decision is written as version tags (``mlops.decision*``) so the registry
alone answers what happened and why. Applying a decision is idempotent: a task re-run after a
crash between "version registered" and "alias moved" finishes the job without a duplicate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pipelines.errors import TrackingUnavailableError
from pipelines.gate import GateDecision

TAG = "mlops."
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
TAG_VALUE_LIMIT = 5000  # MLflow's limit on a tag value


def alias_version(client: Any, name: str, alias: str) -> Any | None:
    """The version an alias points to, or None (also when the model is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise


def gate_tags(decision: GateDecision) -> dict[str, str]:
    """The gate's verdict as version tags (the full record is the run's gate.json)."""
    reasons = json.dumps(decision.reasons)
    tags = {
        f"{TAG}gate.decision": decision.decision,
        f"{TAG}gate.metric": decision.metric,
        f"{TAG}gate.value": f"{decision.challenger:.6f}",
        f"{TAG}gate.holdout_rows": str(decision.rows),
        f"{TAG}gate.reasons": reasons[:TAG_VALUE_LIMIT],
    }
    if decision.champion is not None:
        tags[f"{TAG}gate.champion_value"] = f"{decision.champion:.6f}"
        tags[f"{TAG}gate.ci"] = f"[{decision.ci_low:+.6f}, {decision.ci_high:+.6f}]"
    return tags


def apply_gate(
    client: Any, name: str, version: str, passed: bool, reasons: list[str], actor: str
) -> str:
    """Move aliases for a gated version; returns the alias it now holds ('' if none).

    The first version that passes becomes ``champion`` (a "bootstrap" decision); later ones
    that pass become ``challenger`` for the promotion strategy to elevate.
    """
    if not passed:
        _record(client, name, version, "rejected", actor, "; ".join(reasons))
        return ""
    champion = alias_version(client, name, CHAMPION)
    if champion is None or str(champion.version) == str(version):
        client.set_registered_model_alias(name, CHAMPION, version)
        _record(client, name, version, "bootstrap_champion", actor, "first version to pass")
        return CHAMPION
    client.set_registered_model_alias(name, CHALLENGER, version)
    _record(client, name, version, "challenger", actor, f"passed the gate vs v{champion.version}")
    return CHALLENGER


def _record(client: Any, name: str, version: str, what: str, actor: str, why: str) -> None:
    client.set_model_version_tag(name, version, f"{TAG}decision", what)
    client.set_model_version_tag(name, version, f"{TAG}decision.by", actor)
    client.set_model_version_tag(name, version, f"{TAG}decision.at", datetime.now(UTC).isoformat())
    client.set_model_version_tag(name, version, f"{TAG}decision.why", why[:TAG_VALUE_LIMIT])


def check_reachable(client: Any, tracking_uri: str) -> None:
    """Fail early, clearly, and before any write when the tracking server is down."""
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        if any(s in text for s in ("Connection", "Max retries", "refused", "timed out")):
            raise TrackingUnavailableError(
                f"MLflow at {tracking_uri} is unreachable after retries ({text[:300]}); "
                "nothing was registered"
            ) from exc
        raise
