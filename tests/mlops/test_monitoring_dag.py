"""The monitoring DAG over replayed days, run by Airflow; an injected drift requests a retrain
through the ``retrain.<model>`` Asset (one partition per day) and the scheduler's own code
turns the event into a run of the retraining DAG, which trains the day in the request."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import yaml
from mlflow import MlflowClient

from pipelines.core.calendar import day_end
from pipelines.core.spec import load_spec
from pipelines.serving.history import frontier
from pipelines.serving.runs import promotion_run, scoring_run
from pipelines.training.context import RunContext
from pipelines.training.train import train
from tests.conftest import MODELS, deploy_models, replay, steady_synthetic
from tests.mlops.scheduling import run_existing, scheduler_creates_runs, sync_to_db

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "synthetic_demand"
TRAINED = date(2013, 1, 4)
CALM, SHIFTED = TRAINED + timedelta(days=1), TRAINED + timedelta(days=2)


@pytest.fixture
def monitored(monkeypatch, tmp_path, airflow_db):
    """synthetic_demand trained on request only, a covariate shift from day 6; own stores."""
    data = steady_synthetic()
    data["source"]["options"]["drift"] = [
        {
            "kind": "covariate_shift",
            "start": SHIFTED.isoformat(),
            "columns": ["num_0", "num_1", "num_2", "num_3"],
        }
    ]
    data["retraining"] = {"nightly": False, "cooldown_hours": 24, "min_new_labelled_rows": 1000}
    models, lake, tracking = deploy_models(monkeypatch, tmp_path, data)
    spec = load_spec(models / f"{MODEL}.yaml")
    replay(lake, spec, [TRAINED - timedelta(days=i) for i in (3, 2, 1, 0)])
    train(lake, spec, TRAINED, tracking, RunContext(), str(tmp_path / "artifacts"))
    from tests.mlops.test_dags import dagbag

    bag = dagbag(models)
    sync_to_db(bag)  # the retraining DAG must be known to the scheduler as partition-aware
    return spec, lake, tracking, bag.dags


def night(spec, lake, tracking, dags, day: date):
    """Day D lands and is scored; then the monitoring DAG runs for it."""
    replay(lake, spec, [day])
    scoring_run(lake, spec, day, tracking, day_end(day, "UTC"), "test")
    run = dags[f"{MODEL}__monitoring"].test(run_conf={"partition_date": day.isoformat()})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return run, states


def retrain_events(session):
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import select

    query = (
        select(AssetEvent)
        .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        .where(AssetModel.name == f"retrain.{MODEL}")
    )
    return session.scalars(query).all()


class Outlet:
    """Records what a task puts on its outlet event (any Asset)."""

    def __init__(self) -> None:
        self.extra, self.days = None, set()

    def __getitem__(self, asset):
        return self

    def add_partitions(self, keys):
        self.days.update(keys)


def test_drift_requests_a_retrain_through_the_asset_and_retraining_runs_on_it(monitored):
    from airflow.models.dag import DagModel
    from airflow.sdk.exceptions import AirflowSkipException
    from airflow.utils.session import create_session

    spec, lake, tracking, dags = monitored
    retraining = f"{MODEL}__retraining"
    client = MlflowClient(tracking)

    run, states = night(spec, lake, tracking, dags, CALM)
    assert states == {"check": "success", "report": "success", "request_retrain": "skipped"}
    checked = run.get_task_instance("check").xcom_pull(task_ids="check")
    assert checked["drifted_columns"] == [] and checked["triggers"] == []
    assert lake.exists_path(f"monitoring/{MODEL}/date={CALM}/evidently.html")
    with create_session() as session:
        assert retrain_events(session) == []
        DagModel.get_dagmodel(retraining, session=session).is_paused = False  # as deployed

    run, states = night(spec, lake, tracking, dags, SHIFTED)
    assert states == {"check": "success", "report": "success", "request_retrain": "success"}
    with create_session() as session:
        (event,) = retrain_events(session)
        assert (event.partition_key, event.extra["date"]) == (str(SHIFTED), str(SHIFTED))
        assert event.extra["drifted_columns"] == ["num_0", "num_1", "num_2", "num_3"]
        assert event.extra["why"][0].startswith("data drift: 40% of features drifted")
    # The scheduler's own step turns the request into one retraining run for that day. It
    # starts late: the next night's promotion already moved the frontier past the day.
    ((triggered, consumed),) = scheduler_creates_runs(retraining)
    assert (triggered.partition_key, consumed) == (str(SHIFTED), 1)
    next_night = SHIFTED + timedelta(days=1)
    promotion_run(lake, spec, tracking, day_end(next_night, "UTC"), "night 7")
    assert frontier(lake, MODEL) == next_night
    assert run_existing(dags[retraining], triggered) == {"request": "success", "train": "success"}
    version = client.get_model_version(MODEL, "2")
    assert version.tags["mlops.logical_date"] == SHIFTED.isoformat()
    assert "mlops.behind_frontier" not in version.tags  # asked for at the frontier: present
    assert version.tags["mlops.airflow.trigger"] == "asset_triggered"
    assert version.tags["mlops.train_days"].endswith(str(CALM))  # labels known on day 6

    # Monitoring the day again asks nothing more: the day was decided.
    run, states = night(spec, lake, tracking, dags, SHIFTED)
    assert states["request_retrain"] == "skipped"
    assert len(scheduler_creates_runs(retraining)) == 1
    # ... but a retry of the task (the request saved, the task failed before its event was
    # sent) sends the saved request again.
    checked = run.get_task_instance("check").xcom_pull(task_ids="check")
    request = dags[f"{MODEL}__monitoring"].get_task("request_retrain").python_callable
    for try_number, resent in ((1, False), (2, True)):
        sent = Outlet()
        context = {"ti": type("TI", (), {"try_number": try_number})(), "outlet_events": sent}
        if resent:
            assert request(checked, **context)["retrain"]
            assert (sent.extra["date"], sent.days) == (str(SHIFTED), {str(SHIFTED)})
        else:
            with pytest.raises(AirflowSkipException, match="decided before"):
                request(checked, **context)
            assert sent.extra is None

    # The nightly schedule of a model that trains on request registers nothing: the train
    # task (or training pod) skips before it starts, for scheduled runs and their backfills.
    skip_unless_requested = dags[f"{MODEL}__training"].get_task("train")._pre_execute_hook
    for run_type in ("scheduled", "backfill"):
        nightly = type("DagRun", (), {"run_type": run_type})()
        with pytest.raises(AirflowSkipException, match=r"retraining\.nightly is false"):
            skip_unless_requested({"dag_run": nightly})
    skip_unless_requested({"dag_run": type("DagRun", (), {"run_type": "manual"})()})
    assert len(client.search_model_versions(f"name='{MODEL}'")) == 2


def test_flight_delay_monitoring_dag_reports_and_scores_over_replayed_days(
    monkeypatch, tmp_path, airflow_db
):
    """The flagship model as deployed: nights of 2013 land, are scored and monitored by the
    DAGs; each monitored day has its verdicts, its Evidently report and an MLflow run."""
    data = yaml.safe_load((MODELS / "flight_delay.yaml").read_text())
    data["drift"]["report"] = "always"  # the shipped weekly policy is tested on its own
    models, lake, tracking = deploy_models(monkeypatch, tmp_path, data)
    spec = load_spec(models / "flight_delay.yaml")
    days = [date(2013, 1, d) for d in range(1, 7)]
    replay(lake, spec, days[:4])
    trained = train(lake, spec, days[3], tracking, RunContext(), str(tmp_path / "artifacts"))
    assert trained.alias == "champion", trained
    from tests.mlops.test_dags import dagbag

    dags = dagbag(models).dags
    summaries, caught_up = [], []
    for day in days[4:]:
        replay(lake, spec, [day])
        conf = {"partition_date": day.isoformat()}
        scored = dags["flight_delay__scoring"].test(run_conf=conf)
        run = dags["flight_delay__monitoring"].test(run_conf=conf)
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        assert str(scored.state) == "success"
        caught_up.append(scored.get_task_instance("score").xcom_pull(task_ids="score")["caught_up"])
        assert states["check"] == states["report"] == "success", states
        summaries.append(run.get_task_instance("check").xcom_pull(task_ids="check"))
        assert lake.exists_path(f"monitoring/flight_delay/date={day}/evidently.html")
        assert lake.exists_path(f"monitoring/flight_delay/date={day}/retrain.json")
    first, second = summaries
    assert first["version"] == second["version"] == trained.version
    # The first scoring run also scored the days before the champion, so day 4's labels count.
    assert caught_up == [[str(d) for d in days[:4]], []]
    assert first["labels"] == "in"
    assert second["labels"] == "in" and second["mlflow_run"].startswith("runs:/")
    runs = MlflowClient(tracking).search_runs(
        [MlflowClient(tracking).get_experiment_by_name("flight_delay.monitoring").experiment_id]
    )
    assert len(runs) == 2
    assert any(
        k.startswith(f"live_roc_auc.v{trained.version}") for r in runs for k in r.data.metrics
    )
