"""Validation inside Airflow (dag.test): a broken night is quarantined and everything after it
skips with the reason; the champion is untouched; a person accepts the batch through the
review DAG, approving in the human-in-the-loop step over Airflow's REST API."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from pipelines.core.storage import Lake
from pipelines.validation.decisions import decisions
from tests.conftest import MODELS, steady_synthetic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BROKEN = date(2013, 1, 3)


@pytest.fixture
def broken_model(monkeypatch, tmp_path, airflow_db):
    """synthetic_demand whose delivery of Jan 3 renames a column; own lake and MLflow."""
    spec = steady_synthetic()
    spec["source"]["options"]["drift"] = [
        {
            "kind": "schema_break",
            "start": BROKEN.isoformat(),
            "columns": ["num_3"],
            "mode": "rename",
        }
    ]
    models = tmp_path / "models"
    models.mkdir()
    (models / "synthetic_demand.yaml").write_text(yaml.safe_dump(spec))
    (models / "flight_delay.yaml").write_text((MODELS / "flight_delay.yaml").read_text())
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(models))
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_LAKE_URI", str(tmp_path / "lake"))
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "alice:admin")
    return Lake(str(tmp_path / "lake")), MlflowClient(tracking), models


def dags(models: Path):
    from tests.mlops.test_dags import dagbag

    return dagbag(models).dags


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def respond_when_asked(dag_id: str, user: str, option: str, timeout: float = 120) -> Any:
    """A person answering in the UI: wait for the HITL request, answer via the REST API."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=user, role="admin"))
    headers = {"Authorization": f"Bearer {token}"}

    def answer() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with create_session() as session:
                waiting = (
                    session.query(TaskInstance)
                    .filter_by(dag_id=dag_id, state=TaskInstanceState.AWAITING_INPUT)
                    .first()
                )
                found = (waiting.run_id, waiting.task_id) if waiting else None
            if found:
                url = (
                    f"/api/v2/dags/{dag_id}/dagRuns/{found[0]}/taskInstances/{found[1]}/-1"
                    "/hitlDetails"
                )
                reply = client.patch(url, json={"chosen_options": [option]}, headers=headers)
                assert reply.status_code == 200, reply.text
                return
            time.sleep(0.5)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_a_broken_night_is_quarantined_then_accepted_by_a_person(broken_model):
    lake, client, models = broken_model
    training = dags(models)["synthetic_demand__training"]
    for night in ("2013-01-01", "2013-01-02"):
        run = training.test(run_conf={"partition_date": night})
        assert str(run.state) == "success"
    champion = client.get_model_version_by_alias("synthetic_demand", "champion")
    assert champion.tags["mlops.validation.status"] == "pass"
    assert champion.tags["mlops.learned_suite_uri"].endswith("validation/learned_suite.json")

    run = training.test(run_conf={"partition_date": BROKEN.isoformat()})
    assert states(run) == {
        "ingest": "success",
        "validate": "skipped",
        "features": "skipped",
        "train": "skipped",
    }
    assert not lake.exists("raw", "demand_events", BROKEN)
    assert not lake.exists("features", "synthetic_demand", BROKEN)
    assert lake.exists_path("quarantine/demand_events/date=2013-01-03/part-0.parquet")
    versions = client.search_model_versions("name='synthetic_demand'")
    assert [v.version for v in versions] == [champion.version]  # nothing new registered
    after = client.get_model_version_by_alias("synthetic_demand", "champion")
    assert after.version == champion.version

    review = dags(models)["mlops__quarantine_review"]
    # Replay with the contract unchanged: still blocked, back in quarantine, recorded.
    run = review.test(
        run_conf={"dataset": "demand_events", "date": BROKEN.isoformat(), "action": "revalidate"}
    )
    assert str(run.state) == "success", states(run)
    assert (states(run)["approve"], states(run)["retrain"]) == ("skipped", "skipped")
    assert lake.exists_path("quarantine/demand_events/date=2013-01-03/part-0.parquet")
    assert [d["outcome"] for d in decisions(lake, "demand_events", BROKEN)] == ["still_blocked"]

    answering = respond_when_asked("mlops__quarantine_review", "alice", "Approve")
    run = review.test(
        run_conf={
            "dataset": "demand_events",
            "date": BROKEN.isoformat(),
            "action": "accept",
            "reason": "num_3 was renamed upstream on purpose",
            "retrain": False,
        }
    )
    answering.join(timeout=5)
    assert str(run.state) == "success", states(run)
    assert states(run)["approve"] == "success" and states(run)["retrain"] == "skipped"
    assert lake.exists("raw", "demand_events", BROKEN)
    actions = [(d["action"], d["actor"]) for d in decisions(lake, "demand_events", BROKEN)]
    assert actions[1:] == [("accept", "alice"), ("accept:result", "alice")]


def test_review_of_nothing_quarantined_fails_clearly(broken_model):
    lake, _, models = broken_model
    review = dags(models)["mlops__quarantine_review"]
    run = review.test(
        run_conf={"dataset": "demand_events", "date": "2013-02-01", "action": "revalidate"}
    )
    assert str(run.state) == "failed"
    assert states(run)["inspect"] == "failed"
    assert decisions(lake, "demand_events", date(2013, 2, 1)) == []
