"""Sources and features: real flights replayed by day without leakage; seeded synthetic data."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.core.errors import PartitionMissingError, PipelineError
from pipelines.core.spec import LEAKY_COLUMNS, DriftEvent, SyntheticOptions, parse_spec
from pipelines.features.build import build_features, select_features
from pipelines.sources.ingest import ingest
from pipelines.sources.synthetic import generate_day
from tests.conftest import deliver

pytestmark = pytest.mark.unit
JAN1, JAN2 = date(2013, 1, 1), date(2013, 1, 2)


def test_flights_night_delivers_schedule_weather_and_yesterdays_labels(lake, flight_spec):
    first = ingest(lake, flight_spec, JAN1)
    assert "flights_labels" not in first.partitions  # nothing happened before Jan 1
    second = ingest(lake, flight_spec, JAN2)
    assert set(second.partitions) == {"flights", "weather", "planes", "flights_labels"}
    assert second.rows == second.partitions["flights"].rows == 943
    labels = lake.read_partition("landing", "flights_labels", JAN1)  # by event date
    flights = lake.read_partition("landing", "flights", JAN1)
    assert set(labels["flight_id"]) == set(flights["flight_id"])
    assert set(labels["is_late"].unique()) <= {0, 1}
    assert flights["flight_id"].is_unique


def test_no_outcome_column_reaches_raw_or_features(lake, flight_spec):
    deliver(lake, flight_spec, JAN1)
    build_features(lake, flight_spec, JAN1)
    leaky = LEAKY_COLUMNS["nycflights13"]
    raw = lake.read_partition("raw", "flights", JAN1)
    features = lake.read_partition("features", "flight_delay", JAN1)
    assert leaky.isdisjoint(raw.columns)
    assert leaky.isdisjoint(features.columns)
    assert list(features.columns) == [
        "flight_id",
        "scheduled_departure",
        *flight_spec.feature_names,
    ]


def test_features_join_weather_and_planes(lake, flight_spec):
    deliver(lake, flight_spec, JAN1)
    build_features(lake, flight_spec, JAN1)
    features = lake.read_partition("features", "flight_delay", JAN1)
    assert features["temp"].notna().mean() > 0.95
    assert features["seats"].notna().mean() > 0.8
    assert features["weekday"].eq(1).all()  # 2013-01-01 was a Tuesday
    assert str(features["carrier"].dtype) == "category"


def test_features_are_deterministic_to_the_byte(lake, flight_spec):
    deliver(lake, flight_spec, JAN2)
    first = build_features(lake, flight_spec, JAN2)
    second = build_features(lake, flight_spec, JAN2)
    assert first.partition.sha256 == second.partition.sha256


def test_date_outside_the_data_is_a_clear_skip(lake, flight_spec):
    with pytest.raises(PartitionMissingError, match="no data for 2014-02-01"):
        ingest(lake, flight_spec, date(2014, 2, 1))
    assert lake.list_dates("landing", "flights") == []


def test_features_without_raw_partition_skip(lake, flight_spec):
    with pytest.raises(PartitionMissingError, match="raw/flights/date=2013-01-01"):
        build_features(lake, flight_spec, JAN1)


def test_spec_feature_missing_from_source_is_named(flight_spec):
    frame = pd.DataFrame({"flight_id": ["a"], "scheduled_departure": [pd.Timestamp(0)]})
    with pytest.raises(PipelineError, match=r"has no column\(s\) \['carrier'"):
        select_features(frame, flight_spec)


def test_synthetic_days_are_seeded_and_sized(synthetic_spec):
    options = SyntheticOptions(rows_per_day=500, seed=3)
    a = generate_day(options, "regression", JAN1)
    b = generate_day(options, "regression", JAN1)
    c = generate_day(options, "regression", JAN2)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 500 and a["entity_id"].is_unique
    assert not a["num_0"].equals(c["num_0"])
    assert set(a["entity_id"]).isdisjoint(c["entity_id"])


def test_synthetic_labels_match_the_features_delivered_the_night_before(lake, synthetic_spec):
    ingest(lake, synthetic_spec, JAN1)
    ingest(lake, synthetic_spec, JAN2)
    features = lake.read_partition("landing", "demand_events", JAN1)
    labels = lake.read_partition("landing", "demand_events_labels", JAN1)
    assert "target" not in features.columns
    assert set(labels["entity_id"]) == set(features["entity_id"])


def drifted(kind: str, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    event = DriftEvent(kind=kind, start=JAN2, **kwargs)
    options = SyntheticOptions(rows_per_day=4000, seed=11, drift=[event])
    return generate_day(options, "regression", JAN1), generate_day(options, "regression", JAN2)


def test_covariate_shift_moves_the_chosen_column_from_its_start_date():
    before, after = drifted("covariate_shift", columns=["num_2"], magnitude=1.5)
    assert abs(before["num_2"].mean()) < 0.1
    assert after["num_2"].mean() == pytest.approx(1.5, abs=0.1)
    assert abs(after["num_3"].mean()) < 0.1


def test_concept_drift_reverses_the_relationship():
    before, after = drifted("concept_drift", magnitude=1.0)
    corr_before = np.corrcoef(before["num_1"], before["target"])[0, 1]
    corr_after = np.corrcoef(after["num_1"], after["target"])[0, 1]
    assert np.sign(corr_before) == -np.sign(corr_after)
    assert abs(corr_before) > 0.1


def test_null_spike_new_category_and_schema_breaks():
    _, nulls = drifted("null_spike", columns=["num_0"], magnitude=0.4)
    assert nulls["num_0"].isna().mean() == pytest.approx(0.4, abs=0.05)
    _, unseen = drifted("new_category", columns=["cat_1"], magnitude=0.2)
    assert (unseen["cat_1"] == "unseen").mean() == pytest.approx(0.2, abs=0.05)
    _, as_text = drifted("schema_break", columns=["num_4"], mode="to_string")
    assert as_text["num_4"].map(type).eq(str).all()
    _, dropped = drifted("schema_break", columns=["num_4"], mode="drop")
    assert "num_4" not in dropped.columns
    _, renamed = drifted("schema_break", columns=["num_4"], mode="rename")
    assert "num_4_renamed" in renamed.columns


def lake_spec(flight_spec):
    data = flight_spec.model_dump(mode="json")
    data["source"] = {"kind": "lake", "dataset": "landed"}
    return parse_spec(data, "lake spec")


def test_lake_source_describes_what_another_system_landed(lake, flight_spec):
    spec = lake_spec(flight_spec)
    with pytest.raises(PartitionMissingError, match="nothing delivered for 2013-01-01"):
        ingest(lake, spec, JAN1)
    lake.write_partition(pd.DataFrame({"flight_id": ["a", "b"]}), "landing", "landed", JAN1)
    info = ingest(lake, spec, JAN1).partitions["landed"]
    assert (info.rows, info.bytes > 0, len(info.sha256)) == (2, True, 64)


def test_lake_source_leaves_an_unreadable_file_to_validation(lake, flight_spec):
    path = lake.partition_path("landing", "landed", JAN1)
    lake.write_partition(pd.DataFrame({"x": [1]}), "landing", "landed", JAN1)
    with open(path, "wb") as handle:
        handle.write(b"not parquet")
    info = ingest(lake, lake_spec(flight_spec), JAN1).partitions["landed"]
    assert (info.rows, info.bytes) == (-1, len(b"not parquet"))
