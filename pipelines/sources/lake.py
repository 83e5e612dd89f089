"""Data that another system already lands in the lake (``raw/<dataset>/date=D``).

Ingest delivers nothing itself: it confirms the partition for D has arrived and is readable.
Labels, when they come, land in ``raw/<dataset>_labels/date=<event date>``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.spec import ModelSpec
from pipelines.storage import Lake


class LakeSource:
    """A source whose raw partitions are written by someone else."""

    def deliver(self, spec: ModelSpec, day: date) -> dict[str, pd.DataFrame]:
        return {}

    def feature_frame(self, lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame:
        return lake.read_partition("raw", spec.source.dataset, day)
