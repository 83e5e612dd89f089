"""The local lake: partitions round-trip, writes are atomic, bad files fail clearly."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.core.errors import CorruptPartitionError, PartitionMissingError
from pipelines.core.storage import Lake
from pipelines.features.build import build_features
from tests.conftest import deliver

pytestmark = pytest.mark.unit
DAY = date(2013, 1, 2)


def frame(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"id": range(n), "value": [float(i) / 2 for i in range(n)]})


def test_partition_round_trip_and_listing(lake: Lake):
    info = lake.write_partition(frame(), "raw", "things", DAY)
    lake.write_partition(frame(2), "raw", "things", date(2013, 1, 1))
    assert info.rows == 3
    assert info.uri.endswith("raw/things/date=2013-01-02/part-0.parquet")
    assert len(info.sha256) == 64
    pd.testing.assert_frame_equal(lake.read_partition("raw", "things", DAY), frame())
    assert lake.list_dates("raw", "things") == [date(2013, 1, 1), DAY]
    assert lake.list_dates("raw", "nothing") == []


def test_rewrite_replaces_the_partition_whole(lake: Lake):
    lake.write_partition(frame(5), "raw", "things", DAY)
    lake.write_partition(frame(2), "raw", "things", DAY)
    assert len(lake.read_partition("raw", "things", DAY)) == 2
    folder = Path(lake.partition_path("raw", "things", DAY)).parent
    assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]


def test_failed_write_leaves_previous_partition_and_no_temp_files(lake: Lake, monkeypatch):
    before = lake.write_partition(frame(4), "raw", "things", DAY)

    def write_half_then_fail(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        lake.write_partition(frame(9), "raw", "things", DAY)
    monkeypatch.undo()
    assert len(lake.read_partition("raw", "things", DAY)) == 4
    assert lake.sha256(lake.partition_path("raw", "things", DAY)) == before.sha256
    folder = Path(lake.partition_path("raw", "things", DAY)).parent
    assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]


def test_missing_partition_is_its_own_error(lake: Lake):
    with pytest.raises(PartitionMissingError, match=r"date=2013-01-02/part-0.parquet: partition"):
        lake.read_partition("raw", "things", DAY)


@pytest.mark.parametrize(
    "content",
    [b"", b"not parquet at all", b"PAR1\x00\x01truncated", b"a,b\n1,2\n", b'{"a": 1}'],
    ids=["empty", "garbage", "truncated", "csv", "json"],
)
def test_unreadable_file_names_the_file(lake: Lake, content: bytes):
    path = Path(lake.partition_path("raw", "things", DAY))
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(CorruptPartitionError) as caught:
        lake.read_partition("raw", "things", DAY)
    assert str(path) in str(caught.value)
    assert "not a readable Parquet file" in str(caught.value)


def test_corrupt_raw_partition_writes_no_features(lake: Lake, flight_spec):
    deliver(lake, flight_spec, DAY)
    good = build_features(lake, flight_spec, DAY)
    raw = Path(lake.partition_path("raw", "flights", DAY))
    raw.write_bytes(raw.read_bytes()[: raw.stat().st_size // 2])
    with pytest.raises(CorruptPartitionError, match="raw/flights/date=2013-01-02"):
        build_features(lake, flight_spec, DAY)
    kept = lake.sha256(lake.partition_path("features", "flight_delay", DAY))
    assert kept == good.partition.sha256


def test_json_documents_round_trip(lake: Lake):
    uri = lake.write_json({"b": 1, "a": [1, 2]}, "reports/x/summary.json")
    assert uri.endswith("reports/x/summary.json")
    assert lake.read_json("reports/x/summary.json") == {"a": [1, 2], "b": 1}
