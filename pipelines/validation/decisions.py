"""The decision log of quarantine review: every person's decision on a (dataset, date), as an
append-only JSON record under ``decisions/<dataset>/date=D/`` (who, when, what, why, the
content hash it applies to, the outcome). An ``accept`` is bound to that hash: validation
passes exactly those bytes again with the acceptance noted (pipelines/validation/run.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pipelines.core import layout
from pipelines.core.storage import Lake


def record_decision(
    lake: Lake,
    dataset: str,
    day: date,
    action: str,
    actor: str,
    reason: str,
    sha256: str,
    outcome: str,
) -> dict[str, Any]:
    """Append one decision record; returns it with its URI."""
    now = datetime.now(UTC)
    record: dict[str, Any] = {
        "dataset": dataset,
        "date": day.isoformat(),
        "action": action,
        "actor": actor,
        "reason": reason,
        "sha256": sha256,
        "outcome": outcome,
        "at": now.isoformat(),
    }
    name = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{action}.json"
    record["uri"] = lake.write_json(record, f"{layout.decisions_folder(dataset, day)}/{name}")
    return record


def decisions(lake: Lake, dataset: str, day: date) -> list[dict[str, Any]]:
    """Every decision recorded for (dataset, D), oldest first."""
    paths = lake.list_paths(layout.decisions_folder(dataset, day))
    return [lake.read_json(p) for p in paths if p.endswith(".json")]


def accepted_decision(lake: Lake, dataset: str, day: date, sha256: str) -> dict[str, Any] | None:
    """The latest ``accept`` of exactly these bytes, if a person made one."""
    accepted = [
        d
        for d in decisions(lake, dataset, day)
        if d["action"] == "accept" and d["sha256"] == sha256
    ]
    return accepted[-1] if accepted else None
