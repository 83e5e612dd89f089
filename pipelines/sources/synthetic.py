"""Seeded synthetic tabular data of any size, with drift that can be switched on by date.

Each day is generated from its own seed (``[seed, day ordinal]``), so a day's rows are the
same whenever and wherever they are made: labels of D - 1 delivered on night D match the
features delivered on night D - 1. Columns: ``entity_id`` (int64), ``event_time`` (UTC),
``num_0..`` (float64), ``cat_0..`` (categorical), and the label (``target`` for regression,
``target_class`` for binary).
"""

from __future__ import annotations

from datetime import UTC, date, timedelta

import numpy as np
import pandas as pd

from pipelines.core.calendar import day_start
from pipelines.core.layout import RAW, labels_dataset
from pipelines.core.spec import DriftEvent, ModelSpec, SyntheticOptions
from pipelines.core.storage import Lake
from pipelines.sources import Family

ROWS_PER_DAY_ID = 1_000_000_000  # entity ids: day ordinal * this + row number


def numeric_columns(options: SyntheticOptions) -> list[str]:
    return [f"num_{j}" for j in range(options.numeric_features)]


def categorical_columns(options: SyntheticOptions) -> list[str]:
    return [f"cat_{j}" for j in range(options.categorical_features)]


def label_column(task: str) -> str:
    return "target_class" if task == "binary" else "target"


def _active(options: SyntheticOptions, day: date, kind: str) -> list[DriftEvent]:
    return [
        event
        for event in options.drift
        if event.kind == kind and event.start <= day and (event.end is None or day <= event.end)
    ]


def _columns_or_first(event: DriftEvent, default: list[str]) -> list[str]:
    return event.columns or default[:1]


def generate_day(
    options: SyntheticOptions, task: str, day: date, timezone: str = "UTC"
) -> pd.DataFrame:
    """All rows of one day (in ``timezone``), label included, deterministic in (options, task,
    day)."""
    n = options.rows_per_day
    numeric, categorical = numeric_columns(options), categorical_columns(options)
    world = np.random.default_rng(options.seed)  # the fixed "true" relationship
    weights = world.normal(size=len(numeric))
    category_effects = world.normal(scale=0.7, size=(len(categorical), options.categories))
    rng = np.random.default_rng([options.seed, day.toordinal()])

    values = rng.standard_normal((n, len(numeric)))
    for event in _active(options, day, "covariate_shift"):
        for column in _columns_or_first(event, numeric):
            values[:, numeric.index(column)] += event.magnitude
    codes = rng.integers(0, options.categories, size=(n, len(categorical)), dtype=np.int32)

    for event in _active(options, day, "concept_drift"):
        # magnitude 1 turns every relationship around; 0.5 removes it.
        weights = weights * (1.0 - 2.0 * min(event.magnitude, 1.0))
    signal = values @ weights + 0.5 * np.sin(2.0 * values[:, 0])
    for j in range(len(categorical)):
        signal += category_effects[j][codes[:, j]]
    signal += rng.normal(scale=options.noise, size=n)

    start = day_start(day, timezone).astimezone(UTC)  # instants, stored in UTC
    seconds = np.sort(rng.integers(0, 86_400, size=n))
    frame = pd.DataFrame(
        {
            "entity_id": day.toordinal() * ROWS_PER_DAY_ID + np.arange(n, dtype=np.int64),
            "event_time": pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s"),
        }
    )
    for j, column in enumerate(numeric):
        frame[column] = values[:, j]
    labels = [f"c{k}" for k in range(options.categories)]
    for j, column in enumerate(categorical):
        frame[column] = pd.Categorical.from_codes(codes[:, j], categories=labels)
    if task == "binary":
        probability = 1.0 / (1.0 + np.exp(-signal))
        frame["target_class"] = (rng.random(n) < probability).astype("int8")
    else:
        frame["target"] = signal
    return _inject_data_faults(frame, options, day, rng)


def _inject_data_faults(
    frame: pd.DataFrame, options: SyntheticOptions, day: date, rng: np.random.Generator
) -> pd.DataFrame:
    numeric, categorical = numeric_columns(options), categorical_columns(options)
    n = len(frame)
    for event in _active(options, day, "null_spike"):
        for column in _columns_or_first(event, numeric):
            frame.loc[rng.random(n) < min(event.magnitude, 1.0), column] = np.nan
    for event in _active(options, day, "new_category"):
        for column in _columns_or_first(event, categorical):
            unseen = rng.random(n) < min(event.magnitude, 1.0)
            frame[column] = frame[column].cat.add_categories(["unseen"])
            frame.loc[unseen, column] = "unseen"
    for event in _active(options, day, "schema_break"):
        for column in _columns_or_first(event, numeric):
            if event.mode == "drop":
                frame = frame.drop(columns=column)
            elif event.mode == "rename":
                frame = frame.rename(columns={column: f"{column}_renamed"})
            else:
                frame[column] = frame[column].map(repr)
    return frame


class SyntheticSource:
    """Delivers generated days: features of D on night D, labels of D - delay with them."""

    context_datasets: tuple[str, ...] = ()

    def deliver(self, spec: ModelSpec, day: date) -> dict[str, pd.DataFrame]:
        options = self._options(spec)
        label = label_column(spec.label.task)
        tz = spec.schedules.timezone
        today = generate_day(options, spec.label.task, day, tz).drop(columns=label)
        labelled_day = day - timedelta(days=spec.label.arrival_delay_days)
        done = generate_day(options, spec.label.task, labelled_day, tz)
        return {
            spec.source.dataset: today,
            labels_dataset(spec.source.dataset): done[[spec.entity_key, label]],
        }

    def feature_frame(self, lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame:
        return lake.read_partition(RAW, spec.source.dataset, day)

    def raw_schema(self, spec: ModelSpec) -> dict[str, Family]:
        options = self._options(spec)
        schema: dict[str, Family] = {"entity_id": "key", "event_time": "timestamp"}
        schema.update({column: "numeric" for column in numeric_columns(options)})
        schema.update({column: "categorical" for column in categorical_columns(options)})
        return schema

    @staticmethod
    def _options(spec: ModelSpec) -> SyntheticOptions:
        options = getattr(spec.source, "options", None)
        return options if isinstance(options, SyntheticOptions) else SyntheticOptions()
