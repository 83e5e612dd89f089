"""Training data assembly: labels joined by key without copying, time splits as slices."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipelines.core.errors import TrainingError
from pipelines.training.dataset import LabelledWindow, category_levels, time_split, with_labels

pytestmark = pytest.mark.unit


def features(keys: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": keys, "num_0": np.arange(len(keys), dtype="float64")})


def table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def labels(keys: list[int], values: list[float | None]) -> pa.Table:
    return pa.table({"entity_id": pa.array(keys, pa.int64()), "target": pa.array(values)})


def test_labels_join_by_key_in_feature_order_without_copying_the_features(synthetic_spec):
    rows = table(features([5, 3, 9]))
    joined = with_labels(rows, labels([9, 5, 3], [0.9, 0.5, 0.3]), synthetic_spec)
    assert joined["entity_id"].to_pylist() == [5, 3, 9]
    assert joined["target"].to_pylist() == [0.5, 0.3, 0.9]
    assert joined["target"].type == pa.float64()  # the label keeps its type
    assert (
        joined["num_0"].chunk(0).buffers()[1].address == rows["num_0"].chunk(0).buffers()[1].address
    )
    assert "target" not in rows.column_names  # the caller's table is not changed


def test_rows_without_a_label_yet_are_left_out(synthetic_spec):
    known = labels([1, 2, 4, 5], [1.0, None, 4.0, float("nan")])
    joined = with_labels(table(features([1, 2, 3, 4, 5])), known, synthetic_spec)
    assert joined["entity_id"].to_pylist() == [1, 4]
    assert joined["target"].to_pylist() == [1.0, 4.0]
    none = with_labels(table(features([1, 2])), labels([1], [None]), synthetic_spec)
    assert none.num_rows == 0 and "target" in none.column_names


@pytest.mark.parametrize("side", ["features", "labels"])
def test_duplicate_keys_are_refused_naming_the_side(synthetic_spec, side):
    rows, known = table(features([1, 2])), labels([1, 2], [1.0, 2.0])
    if side == "features":
        rows = table(features([1, 1]))
    else:
        known = labels([1, 1], [1.0, 2.0])
    with pytest.raises(TrainingError, match=f"duplicate 'entity_id' values in the {side}"):
        with_labels(rows, known, synthetic_spec)


def window(row_days: list[int], frame: pd.DataFrame) -> LabelledWindow:
    days = sorted({date.fromordinal(d) for d in row_days})
    return LabelledWindow(frame=frame, days=days, inputs=[], row_days=np.array(row_days))


def test_a_window_in_time_order_splits_into_slices_of_the_same_memory(synthetic_spec):
    base = date(2013, 1, 1).toordinal()
    row_days = [base + d for d in (0, 0, 1, 1, 2, 3)]
    frame = features(list(range(6)))
    split = time_split(window(row_days, frame), synthetic_spec)
    assert [len(split.train), len(split.valid), len(split.holdout)] == [4, 1, 1]
    assert split.holdout["entity_id"].tolist() == [5]
    assert np.shares_memory(split.train["num_0"].to_numpy(), frame["num_0"].to_numpy())


def test_rows_out_of_time_order_still_split_by_day(synthetic_spec):
    base = date(2013, 1, 1).toordinal()
    row_days = [base + d for d in (3, 0, 2, 1, 0, 1)]
    split = time_split(window(row_days, features(list(range(6)))), synthetic_spec)
    assert split.train["entity_id"].tolist() == [1, 3, 4, 5]
    assert split.valid["entity_id"].tolist() == [2]
    assert split.holdout["entity_id"].tolist() == [0]


def test_category_levels_are_the_values_present_whether_read_as_dictionary_or_strings(
    synthetic_spec,
):
    """Parquet dictionary columns arrive categorical: unused categories are not levels."""
    names = synthetic_spec.features_of_type("categorical")
    values = ["b", None, "a", "b", "c"]
    strings = pd.DataFrame({name: pd.Series(values, dtype="object") for name in names})
    categorical = strings.astype(pd.CategoricalDtype(["a", "b", "c", "unused"]))
    arrow = table(strings.astype("category")).to_pandas()  # as the lake reads it
    for frame in (strings, categorical, arrow):
        assert category_levels(frame, synthetic_spec) == {name: ["a", "b", "c"] for name in names}
