"""The monitoring DAG over replayed days, run by Airflow; an injected drift requests a retrain
through the ``retrain.<model>`` Asset and the scheduler's own code turns the event into an
asset-triggered run of the training DAG, which trains the day in the request."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import yaml
from mlflow import MlflowClient

from pipelines.core.calendar import day_end
from pipelines.core.spec import load_spec
from pipelines.serving.runs import scoring_run
from pipelines.training.context import RunContext
from pipelines.training.train import train
from tests.conftest import MODELS, deploy_models, replay

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "synthetic_demand"
TRAINED = date(2013, 1, 4)
CALM, SHIFTED = TRAINED + timedelta(days=1), TRAINED + timedelta(days=2)


@pytest.fixture
def monitored(monkeypatch, tmp_path, airflow_db):
    """synthetic_demand trained on request only, a covariate shift from day 6; own stores."""
    data = yaml.safe_load((MODELS / f"{MODEL}.yaml").read_text())
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

    return spec, lake, tracking, dagbag(models).dags


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


def run_existing(dag, dag_run) -> None:
    """Run the tasks of a run the scheduler created, in process (what dag.test does for the
    run it creates itself)."""
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    with create_session() as session:
        dag_run = session.merge(dag_run)
        dag_run.dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        dag_run.state = DagRunState.RUNNING
        session.commit()
        while dag_run.state == DagRunState.RUNNING:
            session.expire_all()
            ready, _ = dag_run.update_state(session=session)
            for ti in ready:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in ready:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id])


def test_drift_requests_a_retrain_through_the_asset_and_training_runs_on_it(monitored):
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    spec, lake, tracking, dags = monitored
    training_id = f"{MODEL}__training"
    client = MlflowClient(tracking)

    run, states = night(spec, lake, tracking, dags, CALM)
    assert states == {"check": "success", "report": "success", "request_retrain": "skipped"}
    checked = run.get_task_instance("check").xcom_pull(task_ids="check")
    assert checked["drifted_columns"] == [] and checked["triggers"] == []
    assert lake.exists_path(f"monitoring/{MODEL}/date={CALM}/evidently.html")
    with create_session() as session:
        assert retrain_events(session) == []
        DagModel.get_dagmodel(training_id, session=session).is_paused = False  # as deployed

    run, states = night(spec, lake, tracking, dags, SHIFTED)
    assert states == {"check": "success", "report": "success", "request_retrain": "success"}
    with create_session() as session:
        (event,) = retrain_events(session)
        assert event.extra["date"] == SHIFTED.isoformat()
        assert event.extra["drifted_columns"] == ["num_0", "num_1", "num_2", "num_3"]
        assert event.extra["why"][0].startswith("data drift: 40% of features drifted")
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id)).all()
        assert training_id in queued
        # The scheduler's own step turns the queued event into a run of the training DAG.
        runner = SchedulerJobRunner(job=Job())
        runner._create_dag_runs_asset_triggered(
            dag_models=[DagModel.get_dagmodel(training_id, session=session)], session=session
        )
        session.commit()
        (triggered,) = session.scalars(
            select(DagRun).where(DagRun.dag_id == training_id, DagRun.run_type == "asset_triggered")
        ).all()
        assert [e.id for e in triggered.consumed_asset_events] == [event.id]

    run_existing(dags[training_id], triggered)
    with create_session() as session:
        done = session.merge(triggered)
        states = {ti.task_id: str(ti.state) for ti in done.get_task_instances(session=session)}
    assert states == dict.fromkeys(("ingest", "validate", "features", "train"), "success")
    version = client.get_model_version(MODEL, "2")
    assert version.tags["mlops.logical_date"] == SHIFTED.isoformat()
    assert version.tags["mlops.airflow.trigger"] == "asset_triggered"
    assert version.tags["mlops.train_days"].endswith(str(CALM))  # labels known on day 6

    # The nightly schedule of a model that trains on request registers nothing: the train
    # task (or training pod) skips before it starts, for scheduled runs and their backfills.
    from airflow.sdk.exceptions import AirflowSkipException

    skip_unless_requested = dags[training_id].get_task("train")._pre_execute_hook
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
    models, lake, tracking = deploy_models(monkeypatch, tmp_path, data)
    spec = load_spec(models / "flight_delay.yaml")
    days = [date(2013, 1, d) for d in range(1, 7)]
    replay(lake, spec, days[:4])
    trained = train(lake, spec, days[3], tracking, RunContext(), str(tmp_path / "artifacts"))
    assert trained.alias == "champion", trained
    from tests.mlops.test_dags import dagbag

    dags = dagbag(models).dags
    summaries = []
    for day in days[4:]:
        replay(lake, spec, [day])
        conf = {"partition_date": day.isoformat()}
        scored = dags["flight_delay__scoring"].test(run_conf=conf)
        run = dags["flight_delay__monitoring"].test(run_conf=conf)
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        assert str(scored.state) == "success"
        assert states["check"] == states["report"] == "success", states
        summaries.append(run.get_task_instance("check").xcom_pull(task_ids="check"))
        assert lake.exists_path(f"monitoring/flight_delay/date={day}/evidently.html")
        assert lake.exists_path(f"monitoring/flight_delay/date={day}/retrain.json")
    first, second = summaries
    assert first["version"] == second["version"] == trained.version
    assert first["labels"] == "no predictions for 2013-01-04"  # scoring starts on day 5
    assert second["labels"] == "in" and second["mlflow_run"].startswith("runs:/")
    runs = MlflowClient(tracking).search_runs(
        [MlflowClient(tracking).get_experiment_by_name("flight_delay.monitoring").experiment_id]
    )
    assert len(runs) == 2
    assert any(
        k.startswith(f"live_roc_auc.v{trained.version}") for r in runs for k in r.data.metrics
    )
