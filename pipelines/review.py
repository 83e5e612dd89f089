"""Human review of quarantined data: revalidate after a fix, accept, or discard; all recorded.

Every decision is an append-only JSON record under ``decisions/<dataset>/date=D/`` (who, when,
what, why, the content hash it applies to, the outcome). An ``accept`` is bound to the hash:
re-delivering the same bytes later (a re-run of the nightly DAG) passes with the acceptance
noted; different bytes are validated afresh. ``discard`` keeps the data under ``discarded/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from pipelines.checks import Role
from pipelines.errors import PipelineError
from pipelines.sources import labels_dataset
from pipelines.spec import ModelSpec
from pipelines.storage import PART_FILE, Lake
from pipelines.validate import (
    DROPPED_FILE,
    LANDING,
    RAW,
    REASONS_COLUMN,
    ValidationResult,
    quarantine_folder,
    validate_partition,
)

Action = Literal["revalidate", "accept", "discard"]
ACTIONS: tuple[Action, ...] = ("revalidate", "accept", "discard")
NOTES = ("validation.json", "REASON.txt")


@dataclass(frozen=True)
class QuarantineEntry:
    """What quarantine holds for one (dataset, date)."""

    dataset: str
    day: date
    whole_batch: bool  # False: only the rows dropped from a published batch
    result: ValidationResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "date": self.day.isoformat(),
            "whole_batch": self.whole_batch,
            "status": self.result.status,
            "rows": self.result.rows,
            "rows_dropped": self.result.rows_dropped,
            "reason_codes": self.result.reason_codes,
            "reasons": self.result.reasons(),
            "sha256": self.result.sha256,
        }


def role_of(spec: ModelSpec, dataset: str) -> Role:
    """Whether ``dataset`` is the model's batch or its labels."""
    if dataset == spec.source.dataset:
        return "batch"
    if dataset == labels_dataset(spec):
        return "labels"
    raise PipelineError(
        f"model {spec.name!r} validates {spec.source.dataset!r} and {labels_dataset(spec)!r}, "
        f"not {dataset!r}"
    )


def quarantine_entry(lake: Lake, dataset: str, day: date) -> QuarantineEntry:
    """The quarantined batch or rows of (dataset, D); a clear error when there are none."""
    folder = quarantine_folder(dataset, day)
    if not lake.exists_path(f"{folder}/validation.json"):
        raise PipelineError(
            f"nothing is quarantined for dataset {dataset!r} on {day} "
            f"(looked in {lake.uri(lake.path(folder))})"
        )
    result = ValidationResult.from_dict(lake.read_json(f"{folder}/validation.json"))
    whole = lake.exists_path(f"{folder}/{PART_FILE}")
    return QuarantineEntry(dataset=dataset, day=day, whole_batch=whole, result=result)


def list_quarantine(lake: Lake) -> list[QuarantineEntry]:
    """Everything waiting for review, oldest date first."""
    entries = []
    for path in lake.list_paths("quarantine"):
        parts = path.split("/")
        if len(parts) == 4 and parts[3] == "validation.json" and parts[2].startswith("date="):
            day = date.fromisoformat(parts[2].removeprefix("date="))
            entries.append(quarantine_entry(lake, parts[1], day))
    return sorted(entries, key=lambda e: (e.day, e.dataset))


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
    record = {
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
    record["uri"] = lake.write_json(record, f"{_decisions_folder(dataset, day)}/{name}")
    return record


def decisions(lake: Lake, dataset: str, day: date) -> list[dict[str, Any]]:
    """Every decision recorded for (dataset, D), oldest first."""
    paths = lake.list_paths(_decisions_folder(dataset, day))
    return [lake.read_json(p) for p in paths if p.endswith(".json")]


def accepted_decision(lake: Lake, dataset: str, day: date, sha256: str) -> dict[str, Any] | None:
    """The latest ``accept`` of exactly these bytes, if a person made one."""
    accepted = [
        d
        for d in decisions(lake, dataset, day)
        if d["action"] == "accept" and d["sha256"] == sha256
    ]
    return accepted[-1] if accepted else None


def review(
    lake: Lake,
    spec: ModelSpec,
    dataset: str,
    day: date,
    action: Action,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Apply a person's decision on a quarantined (dataset, D) and record it.

    revalidate: run the current contract again (after a fix to the data or the spec);
    accept: publish as is, recorded against the content hash; discard: set aside for good.
    """
    if action not in ACTIONS:
        raise PipelineError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    if action != "revalidate" and not reason.strip():
        raise PipelineError(f"{action} needs a reason: it is recorded with the decision")
    role = role_of(spec, dataset)
    entry = quarantine_entry(lake, dataset, day)
    if action == "discard":
        _discard(lake, dataset, day)
        record = record_decision(
            lake, dataset, day, action, actor, reason, entry.result.sha256, "discarded"
        )
        return {"decision": record, "result": None}
    sha = _restore_to_landing(lake, entry)
    if action == "accept":
        record_decision(lake, dataset, day, "accept", actor, reason, sha, "accepted")
    result = validate_partition(lake, spec, role, day, now)
    outcome = "released" if result.status != "block" else "still_blocked"
    record = record_decision(lake, dataset, day, f"{action}:result", actor, reason, sha, outcome)
    return {"decision": record, "result": result.to_dict()}


def _restore_to_landing(lake: Lake, entry: QuarantineEntry) -> str:
    """Put the delivery back where validation reads it; returns the landed file's hash."""
    import pandas as pd

    folder = quarantine_folder(entry.dataset, entry.day)
    landing = lake.partition_path(LANDING, entry.dataset, entry.day)
    if entry.whole_batch:
        lake.move(lake.path(f"{folder}/{PART_FILE}"), landing)
    else:  # the published rows and the dropped ones, together again
        dropped = lake.read_table(lake.path(f"{folder}/{DROPPED_FILE}")).to_pandas()
        published = lake.read_partition(RAW, entry.dataset, entry.day)
        merged = pd.concat([published, dropped.drop(columns=REASONS_COLUMN)], ignore_index=True)
        lake.write_file(merged, landing)
        lake.delete(lake.path(f"{folder}/{DROPPED_FILE}"))
    for note in NOTES:
        lake.delete(lake.path(f"{folder}/{note}"))
    return lake.sha256(landing)


def _discard(lake: Lake, dataset: str, day: date) -> None:
    folder = quarantine_folder(dataset, day)
    target = f"discarded/{dataset}/date={day.isoformat()}"
    for path in lake.list_paths(folder):
        lake.move(lake.path(path), lake.path(f"{target}/{path.rsplit('/', 1)[-1]}"))


def _decisions_folder(dataset: str, day: date) -> str:
    return f"decisions/{dataset}/date={day.isoformat()}"
