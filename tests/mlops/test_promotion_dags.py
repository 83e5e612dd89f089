"""Scoring, promotion (with a person's approval) and rollback run by Airflow (dag.test)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from mlflow import MlflowClient

from pipelines.core.layout import CHALLENGER, CHAMPION, PREVIOUS
from pipelines.core.spec import load_spec
from pipelines.serving import history
from pipelines.training.context import RunContext
from pipelines.training.train import train
from tests.conftest import deploy_models, replay, steady_synthetic
from tests.mlops.test_validation_dag_run import respond_when_asked
from tests.serving.test_promotion_flow import (
    aliases,
    copy_as_challenger,
    drifted_challenger,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "synthetic_demand"
DAY = date(2013, 1, 4)


def serve(monkeypatch, tmp_path, promotion: dict):
    """synthetic_demand with this promotion policy: v1 champion, v2 challenger; own stores."""
    data = steady_synthetic()
    data["promotion"] = promotion
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "alice:admin")
    models, lake, tracking = deploy_models(monkeypatch, tmp_path, data)
    spec = load_spec(models / f"{MODEL}.yaml")
    replay(lake, spec, [DAY - timedelta(days=i) for i in (3, 2, 1, 0)])
    train(lake, spec, DAY - timedelta(days=1), tracking, RunContext(), str(tmp_path / "a"))
    client = MlflowClient(tracking)
    challenger = copy_as_challenger(client, MODEL, "1")
    from tests.mlops.test_dags import dagbag

    return lake, client, challenger, dagbag(models).dags


@pytest.fixture
def served(monkeypatch, tmp_path, airflow_db):
    return serve(monkeypatch, tmp_path, {"strategy": "manual"})


def test_a_stepwise_rollout_over_replayed_nights_then_a_bad_one_is_aborted(
    monkeypatch, tmp_path, airflow_db
):
    """Each night: the day's data lands, the scoring DAG runs, then the promotion DAG."""
    policy = {"strategy": "stepwise", "min_labelled_rows": 100, "max_regression": 0.15}
    lake, client, good, dags = serve(monkeypatch, tmp_path, policy)
    spec = load_spec(tmp_path / "models" / f"{MODEL}.yaml")
    scoring, promoting = dags[f"{MODEL}__scoring"], dags[f"{MODEL}__promotion"]

    def night(day: date) -> tuple[dict, dict]:
        if day > DAY:
            replay(lake, spec, [day])
        conf = {"partition_date": day.isoformat()}
        scored, decided = scoring.test(run_conf=conf), promoting.test(run_conf=conf)
        assert (str(scored.state), str(decided.state)) == ("success", "success")
        return (
            scored.get_task_instance("score").xcom_pull(task_ids="score"),
            decided.get_task_instance("decide").xcom_pull(task_ids="decide"),
        )

    day, shares, actions = DAY, [], []
    while aliases(client, MODEL)[CHAMPION] != good and day < DAY + timedelta(days=20):
        scored, decided = night(day)
        shares.append(scored["share"])
        actions.append(decided["action"])
        day += timedelta(days=1)
    assert [a for a in actions if a not in ("hold", "idle")] == [
        "start",
        "advance",
        "advance",
        "promote",
    ]
    assert sorted(set(shares)) == [0.0, 0.1, 0.25, 0.5]
    assert aliases(client, MODEL) == {CHAMPION: good, CHALLENGER: None, PREVIOUS: "1"}

    bad = drifted_challenger(spec, client.tracking_uri, tmp_path, day)
    for _ in range(4):
        _, decided = night(day)
        day += timedelta(days=1)
        if decided["action"] == "abort":
            break
    assert decided["action"] == "abort"
    assert aliases(client, MODEL) == {CHAMPION: good, CHALLENGER: None, PREVIOUS: "1"}
    assert client.get_model_version(MODEL, bad).tags["mlops.rollout.ended"] == "abort"


def test_scoring_then_an_approved_promotion_then_a_rollback(served):
    lake, client, challenger, dags = served

    scored = dags[f"{MODEL}__scoring"].test(run_conf={"partition_date": DAY.isoformat()})
    assert str(scored.state) == "success"
    result = scored.get_task_instance("score").xcom_pull(task_ids="score")
    assert (result["champion"], result["challenger"], result["rows_by_version"]) == (
        "1",
        None,
        {"1": result["rows"]},
    )
    assert lake.exists("predictions", MODEL, DAY)

    responder = respond_when_asked(f"{MODEL}__promotion", "alice", "Approve")
    run = dags[f"{MODEL}__promotion"].test(run_conf={"partition_date": DAY.isoformat()})
    responder.join(timeout=5)
    assert str(run.state) == "success"
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == dict.fromkeys(
        ["decide", "needs_approval", "approve", "apply_approved"], "success"
    )
    assert aliases(client, MODEL) == {CHAMPION: challenger, CHALLENGER: None, PREVIOUS: "1"}
    last = history.read_history(lake, MODEL)[-1]
    assert (last.action, last.by, last.to_version) == ("replace", "alice", challenger)

    # A rollback to a version that does not exist fails and changes nothing.
    rollback = dags["mlops__rollback"]
    records = history.read_history(lake, MODEL)
    bad = rollback.test(run_conf={"model": MODEL, "version": "999", "reason": "typo test"})
    assert str(bad.state) == "failed"
    assert history.read_history(lake, MODEL) == records
    assert aliases(client, MODEL)[CHAMPION] == challenger

    good = rollback.test(run_conf={"model": MODEL, "version": None, "reason": "incident 7"})
    assert str(good.state) == "success"
    assert aliases(client, MODEL) == {CHAMPION: "1", CHALLENGER: None, PREVIOUS: challenger}
    assert history.read_history(lake, MODEL)[-1].why == "incident 7"


def test_a_rejected_promotion_changes_nothing(served):
    lake, client, challenger, dags = served
    responder = respond_when_asked(f"{MODEL}__promotion", "alice", "Reject")
    run = dags[f"{MODEL}__promotion"].test(run_conf={"partition_date": DAY.isoformat()})
    responder.join(timeout=5)
    assert str(run.state) == "success"
    outcome = run.get_task_instance("apply_approved").xcom_pull(task_ids="apply_approved")
    assert (outcome["action"], outcome["by"]) == ("rejected", "alice")
    assert aliases(client, MODEL) == {CHAMPION: "1", CHALLENGER: challenger, PREVIOUS: None}
    assert [r.action for r in history.read_history(lake, MODEL)] == ["bootstrap"]
