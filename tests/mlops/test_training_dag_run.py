"""The flight_delay training DAG run by Airflow (dag.test) over two real days of flights."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from mlflow import MlflowClient

from pipelines.core.storage import Lake

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def isolated_stores(monkeypatch, tmp_path, airflow_db):
    """This test's own lake and MLflow store, seen by the tasks through Airflow Variables."""
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_LAKE_URI", str(tmp_path / "lake"))
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    return Lake(str(tmp_path / "lake")), MlflowClient(tracking)


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_two_nights_of_flights_ingest_build_and_train(isolated_stores):
    from tests.mlops.test_dags import dagbag

    lake, client = isolated_stores
    dag = dagbag().dags["flight_delay__training"]

    # Night of Jan 1 (the data interval that starts Jan 1, 02:00 New York): no labels yet.
    first = dag.test(logical_date=datetime(2013, 1, 2, 7, 0, tzinfo=UTC))
    assert str(first.state) == "success"
    assert states(first) == {
        "ingest": "success",
        "validate": "success",
        "features": "success",
        "train": "skipped",
    }

    # Night of Jan 2, chosen with the trigger-form Param: trains on Jan 1's labels.
    second = dag.test(run_conf={"partition_date": "2013-01-02"})
    assert str(second.state) == "success"
    assert set(states(second).values()) == {"success"}

    assert lake.list_dates("features", "flight_delay") == [date(2013, 1, 1), date(2013, 1, 2)]
    (version,) = client.search_model_versions("name='flight_delay'")
    assert version.tags["mlops.logical_date"] == "2013-01-02"
    assert version.tags["mlops.airflow.dag_id"] == "flight_delay__training"
    assert version.tags["mlops.train_days"] == "2013-01-01..2013-01-01"

    xcom = second.get_task_instance("train").xcom_pull(task_ids="train")
    assert xcom["version"] == str(version.version) and xcom["metric"] == "roc_auc"


def test_a_date_without_data_skips_every_task_and_writes_nothing(isolated_stores):
    from tests.mlops.test_dags import dagbag

    lake, client = isolated_stores
    run = dagbag().dags["flight_delay__training"].test(run_conf={"partition_date": "2014-03-01"})
    assert str(run.state) == "success"
    assert set(states(run).values()) == {"skipped"}
    assert lake.list_dates("raw", "flights") == []
    assert client.search_registered_models() == []
