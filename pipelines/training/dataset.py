"""Training data: labelled features over a time window, and the model matrix built from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.calendar import days_between
from pipelines.core.errors import NotEnoughDataError, TrainingError
from pipelines.core.layout import FEATURES, RAW, labels_dataset
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake, to_frame


@dataclass(frozen=True)
class InputPartition:
    """One lake file a model was trained on, for lineage."""

    uri: str
    sha256: str


@dataclass(frozen=True)
class LabelledWindow:
    """Features joined with their labels for the days of a training window."""

    frame: pd.DataFrame
    days: list[date]
    inputs: list[InputPartition]
    row_days: np.ndarray  # the partition date (as an ordinal) of every row of ``frame``


@dataclass(frozen=True)
class Split:
    """Rows to fit on, to stop early on, and to judge the model on (newest last)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame


def labelled_window(lake: Lake, spec: ModelSpec, day: date) -> LabelledWindow:
    """Features and labels known on ``day``: days in ``(day - window, day]`` with both.

    Labels of a date arrive ``arrival_delay_days`` later, so a backfill of a past date only
    sees what had arrived by then: the join is limited to label partitions up to
    ``day - arrival_delay_days``.
    """
    last_labelled = day - timedelta(days=spec.label.arrival_delay_days)
    first = day - timedelta(days=spec.training.window_days - 1)
    tables: list[pa.Table] = []
    days: list[date] = []
    inputs: list[InputPartition] = []
    label_columns = [spec.entity_key, spec.label.name]
    labels_name = labels_dataset(spec.source.dataset)
    for candidate in days_between(first, last_labelled):
        if not (
            lake.exists(FEATURES, spec.name, candidate) and lake.exists(RAW, labels_name, candidate)
        ):
            continue
        feature_path = lake.partition_path(FEATURES, spec.name, candidate)
        label_path = lake.partition_path(RAW, labels_name, candidate)
        # Hashed by a second, streamed read: hashing the bytes already read held each whole
        # file in memory (+15% peak RSS in benchmarks/train_bench.py).
        features, labels = lake.read_table(feature_path), lake.read_table(label_path, label_columns)
        tables.append(with_labels(features, labels, spec))
        del features, labels  # only the joined table references the day's data
        if tables[-1].num_rows == 0:
            tables.pop()
            continue
        days.append(candidate)
        inputs += [
            InputPartition(lake.uri(feature_path), lake.sha256(feature_path)),
            InputPartition(lake.uri(label_path), lake.sha256(label_path)),
        ]
    if not tables:
        raise NotEnoughDataError(
            f"model {spec.name!r} on {day}: no labelled features in {first}..{last_labelled} "
            f"(labels arrive {spec.label.arrival_delay_days} day(s) after the events)"
        )
    row_days = np.repeat([d.toordinal() for d in days], [t.num_rows for t in tables])
    return LabelledWindow(frame=_one_frame(tables), days=days, inputs=inputs, row_days=row_days)


def _one_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """The days as one DataFrame, consuming ``tables``: joined as Arrow chunks (no copy),
    then converted once, each day's buffers freed as they convert (a pandas concat of
    per-day frames copied the whole window a second time)."""
    window = pa.concat_tables(tables, promote_options="permissive")
    tables.clear()
    return to_frame(window)


def with_labels(features: pa.Table, labels: pa.Table, spec: ModelSpec) -> pa.Table:
    """The labelled rows of ``features`` with their label column, in the features' order.

    The label column is looked up by key and appended, so the features are not copied (a
    merge copied all of them: the whole frame twice in memory at 10M rows); rows are
    filtered only when some have no label yet. Keys must be unique on both sides.
    """
    key, name = spec.entity_key, spec.label.name
    labels = labels.filter(_present(labels[name]))  # not labelled yet
    keys = {
        side: pd.Index(_values(table[key]))
        for side, table in (("features", features), ("labels", labels))
    }
    for side, index in keys.items():
        if not index.is_unique:
            raise TrainingError(
                f"model {spec.name!r}: duplicate {key!r} values in the {side}; each entity "
                "needs exactly one row to join a label to"
            )
    position = keys["labels"].get_indexer(keys["features"])
    found = position >= 0
    if not found.all():
        features, position = features.filter(found), position[found]
    return features.append_column(name, labels[name].take(position))


def _present(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Not null, and not NaN for floats (as pandas' ``notna``)."""
    if pa.types.is_floating(column.type):
        return pc.and_kleene(pc.is_valid(column), pc.invert(pc.is_nan(column)))
    return pc.is_valid(column)


def _values(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False)


def category_levels(frame: pd.DataFrame, spec: ModelSpec) -> dict[str, list[str]]:
    """Sorted levels of each categorical feature, fixed at training time for scoring."""
    levels = {}
    for column in spec.features_of_type("categorical"):
        levels[column] = sorted(str(v) for v in _distinct_values(frame[column]))
    return levels


def _distinct_values(column: pd.Series) -> pd.Index | np.ndarray:
    """The distinct non-null values of a column. A Parquet dictionary column is categorical
    with string categories already: its used categories are found from the codes, without
    a pass over a string copy of every row."""
    if _has_string_categories(column):
        return column.cat.remove_unused_categories().cat.categories
    return column.astype("string").dropna().unique()


def _has_string_categories(column: pd.Series) -> bool:
    dtype = column.dtype
    return isinstance(dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(
        dtype.categories.dtype
    )


def model_matrix(
    frame: pd.DataFrame, spec: ModelSpec, levels: dict[str, list[str]]
) -> pd.DataFrame:
    """The spec's features as a numeric/categorical matrix; unseen categories become NaN."""
    matrix = pd.DataFrame(index=frame.index)
    for feature in spec.features:
        column = frame[feature.name]
        if feature.type == "categorical":
            matrix[feature.name] = _as_levels(column, levels[feature.name])
        elif feature.type == "boolean":
            matrix[feature.name] = column.astype("Float64").astype("float64")
        else:
            matrix[feature.name] = column.astype("float64")
    return matrix


def _as_levels(column: pd.Series, levels: list[str]) -> pd.Series:
    """A categorical with exactly ``levels`` (others become NaN).

    Columns read from Parquet dictionaries are already categorical with string categories:
    re-coding them costs nothing, where going through strings costs a pass over every row.
    """
    if _has_string_categories(column):
        return column.cat.set_categories(levels)
    text = column.astype("string")
    known = text.where(text.isin(levels))  # unseen values become missing before the cast
    return known.astype(pd.CategoricalDtype(levels))


def time_split(window: LabelledWindow, spec: ModelSpec) -> Split:
    """Oldest days train, then ``validation_days`` validate, the newest ``holdout_days`` judge.

    With too few labelled days for that, the timeline is cut at its 60% and 80% quantiles.
    """
    training = spec.training
    frame, days = window.frame, window.days
    if len(days) > training.validation_days + training.holdout_days:
        holdout_from = days[-training.holdout_days].toordinal()
        valid_from = days[-(training.holdout_days + training.validation_days)].toordinal()
        part = np.where(
            window.row_days >= holdout_from, 2, np.where(window.row_days >= valid_from, 1, 0)
        )
    else:
        times = pd.to_datetime(frame[spec.timestamp], utc=True)
        cut_valid, cut_holdout = times.quantile(0.6), times.quantile(0.8)
        part = np.where(times >= cut_holdout, 2, np.where(times >= cut_valid, 1, 0))
    return Split(*_parts(frame, part))


def _parts(frame: pd.DataFrame, part: np.ndarray) -> list[pd.DataFrame]:
    """Rows of each part 0, 1, 2. Rows in time order (the usual case) give contiguous parts,
    taken as slices that share the frame's memory; otherwise each part is a copy."""
    if len(part) < 2 or bool((np.diff(part) >= 0).all()):
        bounds = np.searchsorted(part, [0, 1, 2, 3])
        return [frame.iloc[bounds[i] : bounds[i + 1]] for i in range(3)]
    return [frame.loc[part == i] for i in range(3)]


def check_trainable(split: Split, spec: ModelSpec) -> None:
    """Refuse data no honest model can be trained on, with the reason."""
    where = f"model {spec.name!r}"
    train = split.train
    if len(train) < spec.training.min_rows:
        raise NotEnoughDataError(
            f"{where}: {len(train)} labelled training rows, fewer than training.min_rows="
            f"{spec.training.min_rows}; wait for more days or lower min_rows in the spec"
        )
    for name, rows in (("validation", split.valid), ("holdout", split.holdout)):
        if rows.empty:
            raise NotEnoughDataError(f"{where}: no labelled {name} rows in the window")
    empty = [f for f in spec.feature_names if train[f].isna().all()]
    if empty:
        raise TrainingError(
            f"{where}: feature(s) {empty} are null in every training row; fix the source "
            "or remove them from the spec"
        )
    if spec.label.task == "binary":
        classes = np.unique(train[spec.label.name].dropna())
        if len(classes) < 2:
            raise NotEnoughDataError(
                f"{where}: training labels hold a single class {classes.tolist()}; "
                "a classifier needs both"
            )
