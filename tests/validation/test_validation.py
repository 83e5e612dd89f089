"""The data gate on real Parquet files: every bad-input kind gets its reason code, the bad
batch (or rows) lands intact in quarantine, and the clean lake is never touched."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.core.errors import PipelineError, SpecError
from pipelines.core.layout import REASONS_COLUMN
from pipelines.core.spec import parse_spec
from pipelines.sources.synthetic import generate_day
from pipelines.validation.checks import batch_checks, failing_rows
from pipelines.validation.decisions import accepted_decision, decisions
from pipelines.validation.evaluation import evaluate
from pipelines.validation.expectations import run_expectations
from pipelines.validation.review import list_quarantine, review
from pipelines.validation.run import validate_day, validate_partition

pytestmark = pytest.mark.unit
DAY = date(2013, 1, 2)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def spec(synthetic_spec):
    data = synthetic_spec.model_dump(mode="json")
    data["source"]["options"]["rows_per_day"] = 400
    data["validation"]["columns"]["num_0"] = {"min": -10, "max": 10}
    return parse_spec(data, "test spec")


def good_batch(spec, day: date = DAY) -> pd.DataFrame:
    return generate_day(spec.source.options, "regression", day).drop(columns="target")


def good_labels(spec, day: date = DAY) -> pd.DataFrame:
    return generate_day(spec.source.options, "regression", day)[["entity_id", "target"]]


def land(lake, frame: pd.DataFrame, dataset: str = "demand_events", day: date = DAY) -> str:
    return lake.write_partition(frame, "landing", dataset, day).sha256


def land_bytes(lake, data: bytes, dataset: str = "demand_events", day: date = DAY) -> str:
    path = Path(lake.partition_path("landing", dataset, day))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return lake.sha256(str(path))


def assert_quarantined_intact(lake, result, sha: str, dataset: str = "demand_events") -> None:
    """Blocked: the delivered bytes sit in quarantine with their verdict; raw has nothing."""
    assert result.status == "block"
    folder = f"quarantine/{dataset}/date={result.day}"
    assert lake.sha256(lake.path(f"{folder}/part-0.parquet")) == sha
    assert lake.read_json(f"{folder}/validation.json")["status"] == "block"
    reason = Path(lake.path(f"{folder}/REASON.txt")).read_text()
    assert result.reason_codes[0] in reason and "mlops__quarantine_review" in reason
    assert not lake.exists("raw", dataset, result.day)
    assert not lake.exists("landing", dataset, result.day)
    assert lake.exists_path(f"validation/{dataset}/date={result.day}/report.html")


def with_column(name: str, values: Callable[[pd.DataFrame], object]):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[name] = values(frame)
        return frame

    return change


BATCH_DEFECTS = {
    "missing_column": (lambda f: f.drop(columns="num_3"), "missing_column"),
    "extra_column": (with_column("surprise", lambda f: 1.0), "extra_column"),
    "renamed_column": (lambda f: f.rename(columns={"num_3": "num_three"}), "renamed_column"),
    "numbers_as_strings": (with_column("num_2", lambda f: f["num_2"].map(repr)), "type_mismatch"),
    "null_spike": (
        with_column("num_1", lambda f: np.where(f.index % 2, np.nan, 1.0)),
        "null_share",
    ),
    "out_of_range_everywhere": (
        with_column("num_0", lambda f: f["num_0"].abs() + 10),
        "too_many_rows_dropped",
    ),
    "unseen_categories": (
        with_column("cat_0", lambda f: f["cat_0"].astype(str).where(f.index % 3 > 0, "zz")),
        "unseen_category",
    ),
    "duplicate_keys": (with_column("entity_id", lambda f: f["entity_id"] // 2), "duplicate_key"),
    "timestamps_outside_the_date": (
        with_column("event_time", lambda f: f["event_time"] - pd.Timedelta(days=3)),
        "timestamp_outside_partition",
    ),
    "timestamps_in_the_future": (
        with_column("event_time", lambda f: f["event_time"] + pd.Timedelta(days=6000)),
        "timestamp_in_future",
    ),
    "empty_table": (lambda f: f.head(0), "row_count"),
}


@pytest.mark.parametrize("defect", sorted(BATCH_DEFECTS))
def test_each_bad_batch_is_quarantined_intact_with_its_reason(lake, spec, defect):
    change, code = BATCH_DEFECTS[defect]
    sha = land(lake, change(good_batch(spec)))
    result = validate_partition(lake, spec, "batch", DAY, NOW)
    assert code in result.reason_codes, result.summary()
    assert_quarantined_intact(lake, result, sha)


@pytest.mark.parametrize(
    ("content", "code", "hint"),
    [
        (b"", "empty_file", "empty"),
        (b"entity_id,event_time,num_0\n1,2013-01-02,0.5\n", "not_parquet", "CSV"),
        (b'[{"entity_id": 1, "num_0": 0.5}]', "not_parquet", "JSON"),
        (b"PAR1 then garbage, no footer", "corrupt_parquet", "truncated"),
        (b"PAR1 garbage in the middle PAR1", "corrupt_parquet", "unreadable"),
    ],
)
def test_unreadable_files_are_quarantined_byte_for_byte(lake, spec, content, code, hint):
    sha = land_bytes(lake, content)
    result = validate_partition(lake, spec, "batch", DAY, NOW)
    assert result.reason_codes == [code]
    assert hint in result.failed[0].detail
    assert_quarantined_intact(lake, result, sha)


def test_a_truncated_real_parquet_file_is_corrupt(lake, spec):
    land(lake, good_batch(spec))
    path = Path(lake.partition_path("landing", "demand_events", DAY))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = validate_partition(lake, spec, "batch", DAY, NOW)
    assert result.reason_codes == ["corrupt_parquet"]


def test_a_clean_batch_moves_to_raw_byte_for_byte(lake, spec):
    sha = land(lake, good_batch(spec))
    result = validate_partition(lake, spec, "batch", DAY, NOW)
    assert (result.status, result.failed) == ("pass", [])
    assert lake.sha256(lake.partition_path("raw", "demand_events", DAY)) == sha
    assert not lake.exists("landing", "demand_events", DAY)
    assert result.counts()["block"]["failed"] == 0 and len(result.checks) >= 20
    # Re-running once the file has moved returns the stored verdict.
    again = validate_partition(lake, spec, "batch", DAY, NOW)
    assert again.to_dict() == result.to_dict()


def test_a_few_bad_rows_are_dropped_to_quarantine_with_reason_codes(lake, spec):
    batch = good_batch(spec)
    batch.loc[[3, 7], "num_0"] = 99.0  # outside the declared [-10, 10]
    batch["cat_1"] = batch["cat_1"].astype(str)
    batch.loc[5, "cat_1"] = "zz"
    land(lake, batch)
    result = validate_partition(lake, spec, "batch", DAY, NOW)
    assert result.status == "warn" and result.rows_dropped == 3
    assert set(result.reason_codes) == {"out_of_range", "unseen_category"}
    kept = lake.read_partition("raw", "demand_events", DAY)
    dropped = lake.read_table(lake.path("quarantine/demand_events/date=2013-01-02/dropped.parquet"))
    dropped = dropped.to_pandas()
    assert len(kept) + len(dropped) == len(batch)  # nothing lost
    assert set(kept["entity_id"]) | set(dropped["entity_id"]) == set(batch["entity_id"])
    reasons = dict(zip(dropped["entity_id"], dropped[REASONS_COLUMN], strict=True))
    assert reasons[batch.loc[3, "entity_id"]] == "out_of_range"
    assert reasons[batch.loc[5, "entity_id"]] == "unseen_category"


def test_warn_severity_flags_without_stopping(lake, spec):
    data = spec.model_dump(mode="json")
    data["validation"]["severity"] = {"extra_column": "warn"}
    spec = parse_spec(data, "test spec")
    sha = land(lake, good_batch(spec).assign(surprise=1.0))
    result = validate_partition(lake, spec, "batch", DAY, NOW)
    assert (result.status, result.reason_codes) == ("warn", ["extra_column"])
    assert lake.sha256(lake.partition_path("raw", "demand_events", DAY)) == sha


def test_bad_labels_are_quarantined(lake, spec):
    labels = good_labels(spec)
    labels.loc[:100, "target"] = 1e6
    sha = land(lake, labels, "demand_events_labels")
    result = validate_partition(lake, spec, "labels", DAY, NOW)
    assert "label_out_of_domain" in result.reason_codes
    assert_quarantined_intact(lake, result, sha, "demand_events_labels")


def test_a_feature_equal_to_the_label_blocks_the_labels(lake, spec):
    batch, labels = good_batch(spec), good_labels(spec)
    batch["num_4"] = labels["target"].to_numpy()  # the label leaked into a feature
    land(lake, batch)
    assert validate_partition(lake, spec, "batch", DAY, NOW).status == "pass"
    sha = land(lake, labels, "demand_events_labels")
    result = validate_partition(lake, spec, "labels", DAY, NOW)
    assert result.reason_codes == ["feature_equals_label"]
    assert result.failed[0].column == "num_4"
    assert_quarantined_intact(lake, result, sha, "demand_events_labels")


def test_binary_labels_outside_zero_one(lake, flight_spec):
    labels = pd.DataFrame({"flight_id": ["a", "b", "c"], "is_late": [0, 1, 2]})
    data = flight_spec.model_dump(mode="json")
    data["validation"]["max_drop_share"] = 0.5
    spec = parse_spec(data, "flights")
    land(lake, labels, "flights_labels")
    result = validate_partition(lake, spec, "labels", DAY, NOW)
    assert (result.status, result.rows_dropped, result.reason_codes) == (
        "warn",
        1,
        ["label_out_of_domain"],
    )


def test_gx_and_row_masks_count_the_same_failures(spec):
    batch = good_batch(spec)
    batch["cat_0"] = batch["cat_0"].astype(str)
    batch.loc[:9, "cat_0"] = "zz"
    batch.loc[20:24, "entity_id"] = batch.loc[20, "entity_id"]
    batch.loc[30:33, "event_time"] = batch.loc[30, "event_time"] - pd.Timedelta(days=2)
    expected = {c: "numeric" for c in batch.columns if c.startswith("num_")}
    expected |= {"entity_id": "key", "event_time": "timestamp", "cat_0": "categorical"}
    expected |= {"cat_1": "categorical"}
    checks = [c for c in batch_checks(spec, expected, set(expected), DAY, NOW) if c.row_level]
    outcomes = run_expectations(batch, checks)
    compared = 0
    for check, outcome in zip(checks, outcomes, strict=True):
        assert int(failing_rows(check, batch).sum()) == outcome["result"]["unexpected_count"]
        compared += outcome["result"]["unexpected_count"] > 0
    assert compared == 3


def test_a_rule_for_an_unknown_column_is_a_spec_error(lake, spec):
    import pyarrow as pa

    data = spec.model_dump(mode="json")
    data["validation"]["columns"]["num_99"] = {"min": 0}
    bad = parse_spec(data, "test spec")
    with pytest.raises(SpecError, match=r"validation.columns names \['num_99'\]"):
        evaluate(bad, pa.Table.from_pandas(good_batch(spec)), "batch", DAY, NOW)


def test_spec_refuses_drop_rows_for_a_table_check(spec):
    data = spec.model_dump(mode="json")
    data["validation"]["severity"] = {"missing_column": "drop_rows", "empty_file": "warn"}
    with pytest.raises(SpecError) as caught:
        parse_spec(data, "x.yaml")
    assert "'missing_column' is a table-level check" in str(caught.value)


def test_learned_ranges_warn_on_values_the_champion_never_saw(lake, spec):
    learned = {"columns": {"num_0": {"min": -1.0, "max": 1.0}, "cat_0": {"categories": ["c0"]}}}
    land(lake, good_batch(spec))
    result = validate_partition(lake, spec, "batch", DAY, NOW, learned)
    assert result.status == "warn"
    assert set(result.reason_codes) == {"learned_out_of_range", "learned_unseen_category"}
    assert lake.exists("raw", "demand_events", DAY)  # warn: published


def test_validate_day_moves_labels_and_reports_both(lake, spec):
    land(lake, good_batch(spec))
    land(lake, good_labels(spec, date(2013, 1, 1)), "demand_events_labels", date(2013, 1, 1))
    verdict = validate_day(lake, spec, DAY, NOW)
    assert verdict.to_dict()["labels"]["status"] == "pass"
    assert lake.exists("raw", "demand_events_labels", date(2013, 1, 1))


def test_labels_that_land_after_their_night_are_validated_by_the_next_night(lake, spec):
    """Labels of Dec 30 and 31 arrive with the batch of Jan 2 (two and one nights late): the
    night validates them too, bad ones to quarantine; none is left unread in landing."""
    late, bad = date(2012, 12, 30), date(2012, 12, 31)
    land(lake, good_batch(spec))
    land(lake, good_labels(spec, late), "demand_events_labels", late)
    land(lake, good_labels(spec, bad).assign(target=1e6), "demand_events_labels", bad)
    verdict = validate_day(lake, spec, DAY, NOW)
    assert verdict.labels is None  # Jan 1's labels have not come
    assert [(r.day, r.status) for r in verdict.late_labels] == [(late, "pass"), (bad, "block")]
    assert lake.exists("raw", "demand_events_labels", late)
    assert not lake.exists("raw", "demand_events_labels", bad)
    assert lake.list_dates("landing", "demand_events_labels") == []
    assert [r["dataset"] for r in verdict.to_dict()["late_labels"]] == ["demand_events_labels"] * 2


# ------------------------------------------------------------------------------ review
def quarantine_renamed(lake, spec) -> str:
    sha = land(lake, good_batch(spec).rename(columns={"num_3": "num_three"}))
    assert validate_partition(lake, spec, "batch", DAY, NOW).status == "block"
    return sha


def test_accept_publishes_and_binds_the_decision_to_the_bytes(lake, spec):
    sha = quarantine_renamed(lake, spec)
    done = review(lake, spec, "demand_events", DAY, "accept", "alice", "upstream rename is ok")
    assert done["result"]["status"] == "warn"
    assert done["result"]["accepted_by"] == "alice"
    assert lake.sha256(lake.partition_path("raw", "demand_events", DAY)) == sha
    assert accepted_decision(lake, "demand_events", DAY, sha)["actor"] == "alice"
    assert list_quarantine(lake) == []
    # The nightly re-run re-delivers the same bytes: accepted again, not re-quarantined.
    land(lake, good_batch(spec).rename(columns={"num_3": "num_three"}))
    assert validate_partition(lake, spec, "batch", DAY, NOW).accepted_by == "alice"


def test_revalidate_after_a_spec_fix_releases_the_batch(lake, spec):
    quarantine_renamed(lake, spec)
    still = review(lake, spec, "demand_events", DAY, "revalidate", "bob")
    assert still["result"]["status"] == "block"  # nothing changed yet
    data = spec.model_dump(mode="json")
    data["validation"]["severity"] = {"renamed_column": "warn"}
    fixed = parse_spec(data, "test spec")
    done = review(lake, fixed, "demand_events", DAY, "revalidate", "bob")
    assert done["decision"]["outcome"] == "released"
    assert lake.exists("raw", "demand_events", DAY)
    actions = [d["action"] for d in decisions(lake, "demand_events", DAY)]
    assert actions == ["revalidate:result", "revalidate:result"]


def test_discard_keeps_the_data_aside_and_records_why(lake, spec):
    sha = quarantine_renamed(lake, spec)
    review(lake, spec, "demand_events", DAY, "discard", "carol", "vendor resent it")
    assert list_quarantine(lake) == []
    kept = lake.path("discarded/demand_events/date=2013-01-02/part-0.parquet")
    assert lake.sha256(kept) == sha
    (record,) = decisions(lake, "demand_events", DAY)
    assert (record["action"], record["actor"], record["reason"]) == (
        "discard",
        "carol",
        "vendor resent it",
    )
    assert not lake.exists("raw", "demand_events", DAY)


@pytest.mark.parametrize(
    ("dataset", "day", "action", "reason", "message"),
    [
        ("demand_events", date(2013, 1, 9), "accept", "x", "nothing is quarantined"),
        ("other_data", DAY, "revalidate", "", "not 'other_data'"),
        ("demand_events", DAY, "accept", " ", "accept needs a reason"),
        ("demand_events", DAY, "delete", "x", "unknown action"),
    ],
)
def test_bad_review_requests_change_nothing(lake, spec, dataset, day, action, reason, message):
    sha = quarantine_renamed(lake, spec)
    with pytest.raises(PipelineError, match=message):
        review(lake, spec, dataset, day, action, "dave", reason)
    assert lake.sha256(lake.path("quarantine/demand_events/date=2013-01-02/part-0.parquet")) == sha
    assert decisions(lake, "demand_events", DAY) == []
    assert not lake.exists("raw", "demand_events", DAY)


def test_a_second_delivery_with_other_bytes_replaces_the_first_and_keeps_it(lake, spec):
    """Same date, different bytes, after the first was validated: the new delivery is judged
    afresh; when it passes it becomes the clean partition and the first is kept (nothing
    lost); when it is blocked the first stays the clean partition."""
    first_sha = land(lake, good_batch(spec))
    first = validate_partition(lake, spec, "batch", DAY, NOW)
    assert first.status == "pass" and first.superseded_uri == ""
    again = validate_partition(lake, spec, "batch", DAY, NOW)  # a re-run: the stored verdict
    assert again.sha256 == first_sha and again.superseded_uri == ""

    corrected = good_batch(spec).iloc[:-5]  # a corrected delivery: five rows fewer
    second_sha = land(lake, corrected)
    second = validate_partition(lake, spec, "batch", DAY, NOW)
    assert second.status == "pass" and second.sha256 == second_sha != first_sha
    assert lake.sha256(lake.partition_path("raw", "demand_events", DAY)) == second_sha
    kept = second.superseded_uri
    assert kept.endswith(f"superseded/demand_events/date={DAY}/{first_sha[:16]}.parquet")
    assert lake.sha256(kept) == first_sha

    broken = good_batch(spec).drop(columns="num_1")
    land(lake, broken)
    third = validate_partition(lake, spec, "batch", DAY, NOW)
    assert third.status == "block" and third.superseded_uri == ""
    assert lake.sha256(lake.partition_path("raw", "demand_events", DAY)) == second_sha

    # After a blocked one, the next clean delivery keeps the partition it replaces under
    # that partition's own hash (not the blocked delivery's).
    land(lake, good_batch(spec).iloc[:-7])
    fourth = validate_partition(lake, spec, "batch", DAY, NOW)
    assert fourth.status == "pass"
    assert fourth.superseded_uri.endswith(f"/{second_sha[:16]}.parquet")
    assert lake.sha256(fourth.superseded_uri) == second_sha
