"""Ingest: land what the source delivers on night D in the lake's ``landing`` zone.

Nothing reads ``landing`` except validation, which moves each delivery to ``raw`` (clean)
or ``quarantine`` (pipelines/validation/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pipelines.core.errors import CorruptPartitionError, PartitionMissingError
from pipelines.core.layout import LANDING, RAW, labels_dataset
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake, PartitionInfo
from pipelines.sources import get_source


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
        target_day = label_day if dataset == labels_dataset(spec.source.dataset) else day
        written[dataset] = lake.write_partition(frame, LANDING, dataset, target_day)
    if spec.source.dataset not in written:  # a source another system writes
        written[spec.source.dataset] = _delivered_elsewhere(lake, spec, day)
    # The model's own dataset first: its row count is the headline number.
    ordered = {spec.source.dataset: written.pop(spec.source.dataset), **written}
    return IngestResult(model=spec.name, day=day, partitions=ordered)


def _delivered_elsewhere(lake: Lake, spec: ModelSpec, day: date) -> PartitionInfo:
    """The landed (or already validated) partition another system wrote for D.

    A file that is not readable Parquet is reported with ``rows=-1``: it is validation's to
    quarantine with its reason, not ingest's to reject.
    """
    dataset = spec.source.dataset
    for zone in (LANDING, RAW):
        if lake.exists(zone, dataset, day):
            path = lake.partition_path(zone, dataset, day)
            try:
                return lake.describe(path)
            except CorruptPartitionError:
                size = lake.size(path)
                return PartitionInfo(lake.uri(path), rows=-1, sha256=lake.sha256(path), bytes=size)
    uri = lake.partition_uri(LANDING, dataset, day)
    raise PartitionMissingError(f"model {spec.name!r}: nothing delivered for {day} at {uri}")
