"""Human review of quarantined data: revalidate after a fix, accept, or discard; all recorded.

Every decision goes to the decision log (pipelines/validation/decisions.py). ``accept`` is
bound to the content hash: re-delivering the same bytes later (a re-run of the nightly DAG)
passes with the acceptance noted; different bytes are validated afresh. ``discard`` keeps
the data under ``discarded/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pipelines.core import layout
from pipelines.core.errors import PipelineError
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.validation.checks import Role
from pipelines.validation.decisions import record_decision
from pipelines.validation.results import ValidationResult
from pipelines.validation.run import dataset_of, validate_partition

Action = Literal["revalidate", "accept", "discard"]
ACTIONS: tuple[Action, ...] = ("revalidate", "accept", "discard")


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
    labels = dataset_of(spec, "labels")
    if dataset == labels:
        return "labels"
    raise PipelineError(
        f"model {spec.name!r} validates {spec.source.dataset!r} and {labels!r}, not {dataset!r}"
    )


def quarantine_entry(lake: Lake, dataset: str, day: date) -> QuarantineEntry:
    """The quarantined batch or rows of (dataset, D); a clear error when there are none."""
    folder = layout.quarantine_folder(dataset, day)
    verdict = f"{folder}/{layout.QUARANTINE_NOTES[0]}"
    if not lake.exists_path(verdict):
        raise PipelineError(
            f"nothing is quarantined for dataset {dataset!r} on {day} "
            f"(looked in {lake.uri(lake.path(folder))})"
        )
    result = ValidationResult.from_dict(lake.read_json(verdict))
    whole = lake.exists_path(f"{folder}/{layout.PART_FILE}")
    return QuarantineEntry(dataset=dataset, day=day, whole_batch=whole, result=result)


def list_quarantine(lake: Lake) -> list[QuarantineEntry]:
    """Everything waiting for review, oldest date first."""
    entries = []
    for path in lake.list_paths(layout.QUARANTINE):
        parts, found = path.split("/"), layout.dated(path)
        if len(parts) == 4 and found is not None and found[1] == layout.QUARANTINE_NOTES[0]:
            entries.append(quarantine_entry(lake, parts[1], found[0]))
    return sorted(entries, key=lambda e: (e.day, e.dataset))


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

    folder = layout.quarantine_folder(entry.dataset, entry.day)
    landing = lake.partition_path(layout.LANDING, entry.dataset, entry.day)
    if entry.whole_batch:
        lake.move(lake.path(f"{folder}/{layout.PART_FILE}"), landing)
    else:  # the published rows and the dropped ones, together again
        dropped = lake.read_table(lake.path(f"{folder}/{layout.DROPPED_FILE}")).to_pandas()
        published = lake.read_partition(layout.RAW, entry.dataset, entry.day)
        merged = pd.concat(
            [published, dropped.drop(columns=layout.REASONS_COLUMN)], ignore_index=True
        )
        lake.write_file(merged, landing)
        lake.delete(lake.path(f"{folder}/{layout.DROPPED_FILE}"))
    for note in layout.QUARANTINE_NOTES:
        lake.delete(lake.path(f"{folder}/{note}"))
    return lake.sha256(landing)


def _discard(lake: Lake, dataset: str, day: date) -> None:
    folder = layout.quarantine_folder(dataset, day)
    target = layout.discarded_folder(dataset, day)
    for path in lake.list_paths(folder):
        lake.move(lake.path(path), lake.path(f"{target}/{path.rsplit('/', 1)[-1]}"))
