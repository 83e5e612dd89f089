"""The production topology, live: the nightly loop through Airflow's REST API, then faults.

Run alone: ``pytest -m stack`` (all), ``pytest -m faults`` (the fault tests), or one test by
name. Each test sets up what it needs from the session's stack (conftest.py).
"""

from __future__ import annotations

import time

import psutil
import pytest
from stack import WORKERS

from tests.stack.conftest import FIRST_NIGHT, MODEL, AirflowApi, Live

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.stack]
faults = pytest.mark.faults
TRAINING, SCORING = f"{MODEL}__training", f"{MODEL}__scoring"
PROMOTION, ROLLBACK = f"{MODEL}__promotion", "mlops__rollback"


def predictions_key(day: str) -> str:
    return f"lake/predictions/{MODEL}/date={day}/part-0.parquet"


def assert_no_partial_objects(live: Live) -> None:
    keys = live.lake_keys("")
    assert not [k for k in keys if ".tmp" in k or k.endswith("/")], keys


def scored_rows(live: Live, day: str) -> tuple[int, int]:
    """(rows scored, rows of features) for a day, read back from S3."""
    from datetime import date

    lake = live.lake()
    scored = lake.read_partition("predictions", MODEL, date.fromisoformat(day))
    features = lake.read_partition("features", MODEL, date.fromisoformat(day))
    return len(scored), len(features)


def night_running(live: Live, night: str, task_id: str) -> str:
    """Trigger a training night; return its run id once ``task_id`` runs."""
    run_id = live.api.trigger(TRAINING, {"partition_date": night})
    live.api.wait_task(TRAINING, run_id, task_id, ("running",), timeout=240)
    return run_id


def crash_and_restart(live: Live, component: str, down_for: float) -> None:
    """SIGKILL a component with everything it started, then start it again."""
    live.stack.kill(component)
    time.sleep(down_for)
    live.stack.start(component)


def test_the_api_refuses_requests_without_a_valid_token(live: Live):
    def manual_runs() -> int:  # the scheduler may add its nightly run meanwhile
        return len([r for r in live.api.runs(TRAINING) if r["run_type"] == "manual"])

    runs = manual_runs()
    for token in ("", "not-a-jwt"):  # no token: 401; a forged one: 403
        anonymous = AirflowApi.__new__(AirflowApi)
        anonymous.base, anonymous.token = live.api.base, token
        for method, path, body in (
            ("GET", "/api/v2/dags", None),
            ("POST", f"/api/v2/dags/{TRAINING}/dagRuns", {"logical_date": None}),
        ):
            with pytest.raises(AssertionError, match=r": 40[13] "):
                anonymous.call(method, path, body)
    assert manual_runs() == runs  # nothing was triggered


def test_nightly_loop_through_the_rest_api(live: Live, trained: str):
    """Train (conftest), score, promote: aliases in the registry, predictions in S3."""
    assert live.champion() == trained
    live.api.unpause(SCORING)
    run_id = live.api.trigger(SCORING, {"partition_date": FIRST_NIGHT})
    assert live.api.wait(SCORING, run_id) == {"score": "success"}
    assert predictions_key(FIRST_NIGHT) in live.lake_keys("predictions/")
    rows, expected = scored_rows(live, FIRST_NIGHT)
    assert rows == expected > 0
    # The predictions Asset event starts the promotion DAG (data-aware scheduling).
    deadline = time.monotonic() + 120
    while not (runs := live.api.runs(PROMOTION)) and time.monotonic() < deadline:
        time.sleep(1)
    assert runs, "the predictions Asset event did not trigger the promotion DAG"
    assert runs[0]["run_type"] == "asset_triggered"
    # The champion was trained for this very night: it serves from the night's end on, so
    # the night was scored as a catch-up and no champion served it: nothing to decide.
    assert live.api.wait(PROMOTION, runs[0]["dag_run_id"])["decide"] == "skipped"
    assert not live.lake_keys(f"promotions/{MODEL}/decisions/")
    assert live.champion() == trained
    assert_no_partial_objects(live)


@faults
def test_scheduler_killed_mid_run_and_restarted(live: Live, trained: str):
    night = "2013-01-04"
    run_id = night_running(live, night, "validate")
    crash_and_restart(live, "scheduler", down_for=3)
    states = live.api.wait(TRAINING, run_id, timeout=300)
    assert set(states.values()) == {"success"}
    assert len(live.versions(night)) == 1  # one version for the night, not one per scheduler
    assert live.lake_keys(f"features/{MODEL}/date={night}/")
    assert_no_partial_objects(live)


@faults
def test_mlflow_down_during_registration_then_back(live: Live, trained: str):
    night = "2013-01-05"
    run_id = night_running(live, night, "train")
    crash_and_restart(live, "mlflow", down_for=3)  # tracking, upload, registration need it
    live.api.wait(TRAINING, run_id, timeout=300)
    train = live.api.tasks(TRAINING, run_id)["train"]
    logs = "".join(
        live.api.log(TRAINING, run_id, "train", n) for n in range(1, train["try_number"] + 1)
    )
    assert train["try_number"] > 1 or "Connection refused" in logs  # the outage was felt
    (version,) = live.versions(night)  # retried: still exactly one version
    assert version.tags["mlops.gate.decision"]  # judged and registered once
    assert live.champion() in {trained, str(version.version)}


@faults
def test_s3_unreachable_when_scoring_writes_then_back(live: Live, trained: str):
    live.api.unpause(SCORING)
    before = live.versions()
    live.gate.shut()
    try:
        run_id = live.api.trigger(SCORING, {"partition_date": FIRST_NIGHT, "version": trained})
        ti = live.api.wait_task(SCORING, run_id, "score", ("up_for_retry", "failed"), 240)
    finally:
        live.gate.open()
    assert ti["state"] == "up_for_retry", "an unreachable object store must be retried"
    log = live.api.log(SCORING, run_id, "score", 1)
    assert "object store unreachable" in log or "Connect" in log
    assert live.api.wait(SCORING, run_id) == {"score": "success"}
    rows, expected = scored_rows(live, FIRST_NIGHT)
    assert rows == expected
    assert_no_partial_objects(live)
    assert len(live.versions()) == len(before)


@faults
def test_worker_killed_mid_task_is_retried_on_the_other(live: Live, trained: str):
    live.api.unpause(SCORING)
    run_id = live.api.trigger(SCORING, {"partition_date": FIRST_NIGHT, "version": trained})
    ti = live.api.wait_task(SCORING, run_id, "score", ("running",), timeout=180)
    victim = worker_running(live, ti["pid"])
    live.stack.kill(victim)
    try:
        assert live.api.wait(SCORING, run_id, timeout=240) == {"score": "success"}
    finally:
        live.stack.start(victim)
    assert live.api.tasks(SCORING, run_id)["score"]["try_number"] >= 2
    rows, expected = scored_rows(live, FIRST_NIGHT)
    assert rows == expected
    assert_no_partial_objects(live)


def worker_running(live: Live, pid: int | None) -> str:
    """Which Celery worker's process tree holds the task process ``pid``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for name in WORKERS:
            root = live.stack.pid(name)
            if root and pid and pid in {p.pid for p in psutil.Process(root).children(True)}:
                return name
        time.sleep(0.5)
    raise AssertionError(f"no worker runs task process {pid}")


@faults
def test_two_rollbacks_at_once_one_wins_the_other_fails_closed(live: Live, trained: str):
    """Two people roll back to the same version at the same moment: exactly one transition."""
    from pipelines.serving.history import read_history

    client = live.mlflow()
    source = client.get_model_version(MODEL, trained)
    target = client.create_model_version(
        MODEL, source.source, run_id=source.run_id, model_id=source.source.rsplit("/", 1)[-1]
    ).version  # the same model registered again by hand: a second version to roll back to
    champion, history = live.champion(), read_history(live.lake(), MODEL)
    live.api.unpause(ROLLBACK)
    conf = {"model": MODEL, "version": str(target), "reason": "race test: same click twice"}
    runs = [live.api.trigger(ROLLBACK, conf) for _ in range(2)]
    outcomes = []
    for run_id in runs:
        try:
            live.api.wait(ROLLBACK, run_id, timeout=180)
            outcomes.append("success")
        except AssertionError as failure:
            outcomes.append(str(failure))
    assert sorted(o == "success" for o in outcomes) == [False, True], outcomes
    (lost,) = [o for o in outcomes if o != "success"]
    assert "already the champion" in lost or "ConcurrentPromotion" in lost or "moved" in lost
    after = read_history(live.lake(), MODEL)
    assert len(after) == len(history) + (1 if history else 2)  # + a bootstrap if it was empty
    assert after[-1].action == "rollback" and after[-1].to_version == str(target)
    assert live.champion() == str(target)
    aliases = client.get_registered_model(MODEL).aliases
    assert aliases["previous"] == champion
