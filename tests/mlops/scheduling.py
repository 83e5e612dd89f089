"""The scheduler's own steps, driven from tests: the DAGs into the metadata DB as the
dag-processor leaves them, runs created from queued Asset events, and a created run executed
in process."""

from __future__ import annotations

from typing import Any


def sync_to_db(bag: Any) -> None:
    """Write a DagBag's DAGs to the metadata DB (what the dag-processor does after parsing)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)


def scheduler_creates_runs(dag_id: str) -> list[tuple[Any, int]]:
    """The scheduler's step for partitioned Asset schedules, until it creates nothing more;
    returns the DAG's runs in creation order, each with how many events it consumed."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    runner = SchedulerJobRunner(job=Job())
    with create_session() as session:
        while runner._create_dagruns_for_partitioned_asset_dags(session):
            session.commit()
        session.commit()
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id))
        return [(run, len(run.consumed_asset_events)) for run in runs.all()]


def run_existing(dag: Any, dag_run: Any) -> dict[str, str]:
    """Run the tasks of a run the scheduler created, in process (what dag.test does for the
    run it creates itself); returns the task states."""
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
        session.expire_all()
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}
