"""The lake on S3: an S3-compatible server (moto, server mode) on loopback, credentials and
endpoint from the Airflow ``aws_default`` connection through the Amazon provider."""

from __future__ import annotations

import json
import socket
from datetime import date

import boto3
import pytest

from pipelines.core.errors import StorageUnavailableError
from pipelines.core.storage import Lake
from pipelines.features.build import build_features
from pipelines.sources.ingest import ingest
from pipelines.validation.run import validate_day
from tests.conftest import BUCKET

pytestmark = pytest.mark.integration

DAY = date(2013, 1, 2)


@pytest.fixture
def aws_default(monkeypatch, s3_endpoint):
    """The connection a deployment defines (here through the environment)."""
    connection = {
        "conn_type": "aws",
        "login": "test-key",
        "password": "test-secret",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    return s3_endpoint


def bucket_keys(endpoint: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",  # noqa: S106
        region_name="us-east-1",
    )
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_options_come_from_the_airflow_connection(aws_default):
    from mlops.settings import s3_storage_options

    options = s3_storage_options()
    assert options["key"] == "test-key"
    assert options["client_kwargs"]["endpoint_url"] == aws_default


def test_ingest_and_features_round_trip_on_s3(aws_default, flight_spec):
    from mlops.settings import open_lake

    lake = open_lake(f"s3://{BUCKET}/lake")
    written = ingest(lake, flight_spec, DAY)
    assert written.partitions["flights"].uri == (
        f"s3://{BUCKET}/lake/landing/flights/date=2013-01-02/part-0.parquet"
    )
    verdict = validate_day(lake, flight_spec, DAY)
    assert verdict.batch.published_uri == (
        f"s3://{BUCKET}/lake/raw/flights/date=2013-01-02/part-0.parquet"
    )
    built = build_features(lake, flight_spec, DAY)
    assert lake.list_dates("features", "flight_delay") == [DAY]
    frame = lake.read_partition("features", "flight_delay", DAY)
    assert len(frame) == built.partition.rows == 943
    assert lake.sha256(lake.partition_path("features", "flight_delay", DAY)) == (
        built.partition.sha256
    )
    keys = bucket_keys(aws_default)
    assert "lake/features/flight_delay/date=2013-01-02/part-0.parquet" in keys
    assert not [k for k in keys if ".tmp-" in k]  # nothing half-written is ever visible


def test_same_bytes_locally_and_on_s3(aws_default, flight_spec, tmp_path):
    from mlops.settings import open_lake

    built = []
    for lake in (open_lake(f"s3://{BUCKET}/same"), Lake(str(tmp_path / "lake"))):
        ingest(lake, flight_spec, DAY)
        validate_day(lake, flight_spec, DAY)
        built.append(build_features(lake, flight_spec, DAY).partition.sha256)
    assert built[0] == built[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(120)
def test_unreachable_s3_fails_clearly_after_retries(flight_spec):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    lake = Lake(
        f"s3://{BUCKET}/lake",
        {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": endpoint}},
    )
    with pytest.raises(StorageUnavailableError) as caught:
        ingest(lake, flight_spec, DAY)
    message = str(caught.value)
    assert f"s3://{BUCKET}/lake/landing/flights/date=2013-01-02" in message
    assert "unreachable after retries" in message and "aws_default" in message


def test_exclusive_create_on_s3_lets_exactly_one_writer_win(aws_default):
    """The promotion history's compare-and-set: If-None-Match on the S3 PUT."""
    from mlops.settings import open_lake

    lake = open_lake(f"s3://{BUCKET}/cas-test")
    assert lake.create_once(b'{"seq": 1, "by": "first"}', "promotions/m/history/00000001.json")
    assert not lake.create_once(b'{"seq": 1, "by": "second"}', "promotions/m/history/00000001.json")
    assert lake.read_json("promotions/m/history/00000001.json")["by"] == "first"
