"""Every date exactly once downstream, however fast the events arrive.

Ten nights' features events land before the scheduler looks (a fast backfill, a catch-up
after an outage), one of them twice (a re-delivery). The scheduler's own code turns them into
one scoring run per date; each scored date's predictions event into one promotion run and
one monitoring run (the two days before the first champion, caught up by the first scoring
run, included). Runs are executed in process, in the order the scheduler created them.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipelines.core import layout
from pipelines.core.spec import load_spec
from pipelines.training.train import train
from tests.conftest import deploy_models, replay, steady_synthetic
from tests.mlops.scheduling import run_existing, scheduler_creates_runs, sync_to_db

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = "synthetic_demand"
DAYS = [date(2013, 1, 1) + timedelta(days=i) for i in range(12)]
FAST = [d.isoformat() for d in DAYS[2:]]  # ten nights, the first with a champion serving


@pytest.fixture
def chain(monkeypatch, tmp_path, airflow_db):
    """synthetic_demand with its own stores, twelve days replayed, a champion from day 2, and
    the DAGs in the metadata DB as the dag-processor leaves them."""
    from tests.mlops.test_dags import dagbag

    data = steady_synthetic()
    data["source"]["options"]["rows_per_day"] = 600
    data["validation"]["min_rows"] = 100
    data["training"]["min_rows"] = 200
    data["gates"]["min_holdout_rows"] = 100
    data["drift"] = {"report_rows": 100, "reference_rows": 1000}
    models, lake, tracking = deploy_models(monkeypatch, tmp_path, data)
    spec = load_spec(models / f"{MODEL}.yaml")
    replay(lake, spec, DAYS)
    train(lake, spec, DAYS[1], tracking, None, str(tmp_path / "artifacts"))
    bag = dagbag(models)
    sync_to_db(bag)
    return spec, lake, bag.dags


def features_events(session, days: list[str]) -> None:
    """What the features task of each night's training run sends: one event per partition."""
    from airflow.assets.manager import AssetManager
    from airflow.models.asset import AssetModel
    from sqlalchemy import select

    asset = session.scalar(select(AssetModel).where(AssetModel.name == f"features.{MODEL}"))
    for day in days:
        AssetManager.register_asset_change(
            asset=asset, extra={"date": day}, partition_key=day, session=session
        )
    session.commit()


def test_a_fast_chain_of_ten_dates_is_scored_decided_and_monitored_once_each(chain):
    from airflow.utils.session import create_session

    _, lake, dags = chain
    with create_session() as session:
        features_events(session, [*FAST[:3], FAST[2], *FAST[3:]])  # night 5 delivered twice

    scoring = scheduler_creates_runs(f"{MODEL}__scoring")
    assert [run.partition_key for run, _ in scoring] == FAST  # one run per date, in order
    assert [events for _, events in scoring] == [1, 1, 2, 1, 1, 1, 1, 1, 1, 1]
    for run, _ in scoring:
        run_existing(dags[f"{MODEL}__scoring"], run)

    # The first scoring run also caught up Jan 1-2 (scored before the champion existed):
    # their predictions events start their own promotion and monitoring runs. Airflow keeps
    # the partitions of one event in a set, so those three days start in any order; the
    # later nights' runs follow in date order.
    caught_up = [d.isoformat() for d in DAYS[:2]]
    for kind in ("promotion", "monitoring"):
        runs = scheduler_creates_runs(f"{MODEL}__{kind}")
        keys = [run.partition_key for run, _ in runs]
        assert sorted(keys[:3]) == [*caught_up, FAST[0]] and keys[3:] == FAST[1:], kind
        for run, _ in runs:
            states = run_existing(dags[f"{MODEL}__{kind}"], run)
            assert set(states.values()) <= {"success", "skipped"}, (kind, states)

    for day in caught_up + FAST:
        when = date.fromisoformat(day)
        assert lake.exists(layout.PREDICTIONS, MODEL, when), day
        assert lake.exists_path(layout.drift_result(MODEL, when)), day
    for day in caught_up:  # no champion served then: nothing to decide, whatever the order
        assert not lake.exists_path(layout.promotion_decision(MODEL, date.fromisoformat(day)))
    for day in FAST:
        assert lake.exists_path(layout.promotion_decision(MODEL, date.fromisoformat(day))), day
    for day in DAYS[:2]:
        served = lake.read_partition(layout.PREDICTIONS, MODEL, day)["model_alias"]
        assert set(served.astype(str)) == {layout.CATCH_UP}
    for kind, count in (("scoring", 10), ("promotion", 12), ("monitoring", 12)):
        states = [str(run.state) for run, _ in scheduler_creates_runs(f"{MODEL}__{kind}")]
        assert states == ["success"] * count, kind
