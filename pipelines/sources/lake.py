"""Data that another system lands in the lake (``landing/<dataset>/date=D/part-0.parquet``).

Ingest delivers nothing itself: it confirms the partition for D has arrived. Labels, when they
come, land in ``landing/<dataset>_labels/date=<event date>``. The delivered columns must be the
spec's key, timestamp and features (set ``validation.severity.extra_column: warn`` to allow
more).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.core.layout import RAW
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.sources import Family, spec_schema


class LakeSource:
    """A source whose partitions are written by someone else."""

    context_datasets: tuple[str, ...] = ()

    def deliver(self, spec: ModelSpec, day: date) -> dict[str, pd.DataFrame]:
        return {}

    def feature_frame(self, lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame:
        return lake.read_partition(RAW, spec.source.dataset, day)

    def raw_schema(self, spec: ModelSpec) -> dict[str, Family]:
        return spec_schema(spec)
