"""Ingest: land what the source delivers on night D in the lake's ``raw`` zone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pipelines.errors import PartitionMissingError
from pipelines.sources import get_source, labels_dataset
from pipelines.spec import ModelSpec
from pipelines.storage import Lake, PartitionInfo


@dataclass(frozen=True)
class IngestResult:
    """The raw partitions written (or found) for one night, by lake dataset name."""

    model: str
    day: date
    partitions: dict[str, PartitionInfo] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows of the model's own dataset that night (the first entry)."""
        first = next(iter(self.partitions.values()), None)
        return first.rows if first else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "date": self.day.isoformat(),
            "rows": self.rows,
            "partitions": {name: info.to_dict() for name, info in self.partitions.items()},
        }


def ingest(lake: Lake, spec: ModelSpec, day: date) -> IngestResult:
    """Write night D's deliveries; re-running overwrites the same partitions.

    Labels are partitioned by the date of the events they label (D - delay), so training can
    join them with the features of that date. Raises ``PartitionMissingError`` when the source
    has nothing for D (callers skip the run with that reason).
    """
    delivered = get_source(spec).deliver(spec, day)
    label_day = day - timedelta(days=spec.label.arrival_delay_days)
    written: dict[str, PartitionInfo] = {}
    for dataset, frame in delivered.items():
        target_day = label_day if dataset == labels_dataset(spec) else day
        written[dataset] = lake.write_partition(frame, "raw", dataset, target_day)
    if spec.source.dataset not in written:  # a source another system writes
        if not lake.exists("raw", spec.source.dataset, day):
            uri = lake.partition_uri("raw", spec.source.dataset, day)
            raise PartitionMissingError(f"model {spec.name!r}: no raw partition for {day} at {uri}")
        path = lake.partition_path("raw", spec.source.dataset, day)
        written[spec.source.dataset] = lake.describe(path)  # fails clearly on a corrupt file
    # The model's own dataset first: its row count is the headline number.
    ordered = {spec.source.dataset: written.pop(spec.source.dataset), **written}
    return IngestResult(model=spec.name, day=day, partitions=ordered)
