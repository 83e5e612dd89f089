"""Features: the spec's columns from the raw partitions of one date, as a features partition.

Deterministic: rows are sorted by entity key and types are fixed by the spec, so the same
raw input gives the same Parquet bytes (tests compare hashes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from pipelines.core.errors import PipelineError
from pipelines.core.layout import FEATURES
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake, PartitionInfo
from pipelines.sources import get_source


@dataclass(frozen=True)
class FeaturesResult:
    """The features partition written for one (model, date)."""

    model: str
    day: date
    partition: PartitionInfo

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "date": self.day.isoformat(), **self.partition.to_dict()}


def select_features(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """Key, timestamp and the spec's features, with the spec's types, sorted by key."""
    wanted = [spec.entity_key, spec.timestamp, *spec.feature_names]
    missing = [column for column in wanted if column not in frame.columns]
    if missing:
        raise PipelineError(
            f"model {spec.name!r}: source {spec.source.kind!r} has no column(s) {missing}; "
            f"available: {sorted(frame.columns)}"
        )
    out = frame[wanted]  # copy-on-write: only the columns converted below are new
    for feature in spec.features:
        column = out[feature.name]
        if feature.type == "categorical":
            out[feature.name] = column.astype("string").astype("category")
        elif feature.type == "boolean":
            out[feature.name] = column.astype("boolean")
        else:
            out[feature.name] = pd.to_numeric(column, errors="raise").astype("float64")
    if out[spec.entity_key].is_monotonic_increasing:  # delivered in key order: no sorted copy
        return out.reset_index(drop=True)
    return out.sort_values(spec.entity_key, kind="stable").reset_index(drop=True)


def build_features(lake: Lake, spec: ModelSpec, day: date) -> FeaturesResult:
    """Read raw partitions of ``day``, write ``features/<model>/date=<day>``."""
    frame = get_source(spec).feature_frame(lake, spec, day)
    info = lake.write_partition(select_features(frame, spec), FEATURES, spec.name, day)
    return FeaturesResult(model=spec.name, day=day, partition=info)
