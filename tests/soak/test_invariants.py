"""The soak's invariants find what they are there to find: each check on a small real lake
with one thing wrong, and the fault plan's promises."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from benchmarks.soak import invariants
from benchmarks.soak.faults import DELIVERY_FAULTS, KINDS, Fault, plan
from benchmarks.soak.models import Ledger
from pipelines.core.calendar import day_end
from pipelines.core.spec import parse_spec
from pipelines.serving.state import State, bootstrap
from tests.conftest import steady_synthetic

pytestmark = pytest.mark.unit
JAN = [date(2013, 1, 1) + timedelta(days=i) for i in range(10)]


@pytest.fixture
def spec():
    data = steady_synthetic()
    data["source"] = {"kind": "lake", "dataset": "demand_events"}
    data["retraining"] = {"cooldown_hours": 24, "max_per_week": 2}
    return parse_spec(data, "synthetic_demand.yaml")


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": range(rows), "x": [0.5] * rows})


def test_rows_accounted_finds_lost_rows_and_unread_deliveries(lake, spec, tmp_path):
    ledger = Ledger(tmp_path / "deliveries.json")
    for day, rows in ((JAN[0], 100), (JAN[1], 100), (JAN[2], 50), (JAN[3], 80)):
        ledger.add("demand_events", day, rows, "sha")
    lake.write_partition(frame(100), "raw", "demand_events", JAN[0])  # all there
    lake.write_partition(frame(90), "raw", "demand_events", JAN[1])  # 10 rows gone
    lake.write_partition(frame(50), "quarantine", "demand_events", JAN[2])
    lake.write_bytes(b"blocked: schema", "quarantine/demand_events/date=2013-01-03/REASON.txt")
    lake.write_partition(frame(80), "landing", "demand_events", JAN[3])  # never validated
    check = invariants.rows_accounted(lake, spec, JAN[:4], ledger)
    assert check.checked == 4
    assert check.violations == [
        "demand_events 2013-01-02: delivered 100 rows, raw 90 + dropped 0",
        "demand_events 2013-01-04: still in landing, never validated",
    ]


def serving_from(day: date, version: str, spec) -> list:
    _, record = bootstrap(State(spec.name, None), version, day_end(day, "UTC"), "test", "first")
    return [record]


def predictions(lake, spec, day: date, version: str, alias: str = "champion") -> None:
    lake.write_partition(frame(5), "features", spec.name, day)
    out = frame(5).assign(model_version=version, model_alias=alias)
    lake.write_partition(out, "predictions", spec.name, day)


def test_scored_once_checks_each_row_against_the_history_and_the_runs(lake, spec):
    records = serving_from(JAN[0], "1", spec)
    predictions(lake, spec, JAN[1], "1")  # as served
    predictions(lake, spec, JAN[2], "2")  # v2 never served
    predictions(lake, spec, JAN[3], "1")  # scored, but by no successful run
    lake.write_partition(frame(5), "features", spec.name, JAN[4])  # clean, never scored
    runs = [
        {"partition_key": d.isoformat(), "state": "success"} for d in (JAN[1], JAN[2], JAN[4])
    ] + [{"partition_key": JAN[3].isoformat(), "state": "failed"}]
    check = invariants.scored_once(lake, spec, records, runs)
    assert check.checked == 4
    assert check.violations == [
        "2013-01-03: 5 rows of v2 as champion, the history says ['1']",
        "2013-01-04: 0 successful scoring runs for 1 deliveries",
        "2013-01-05: clean and served by v1, not scored",
    ]


def test_retrain_requests_beyond_the_weekly_cap_are_reported(lake, spec):
    for day in JAN[4:8]:
        lake.write_json(
            {"retrain": day != JAN[5]}, f"monitoring/{spec.name}/date={day}/retrain.json"
        )
    runs = [{"partition_key": JAN[4].isoformat(), "state": "success"}] * 2
    check = invariants.retrains_within_guardrails(lake, spec, JAN, runs)
    assert check.checked == 4
    assert check.violations == [
        "2013-01-08: request 3 within 7 days",
        "2013-01-05: 2 successful retraining runs",
    ]


def test_a_fault_without_an_outcome_is_a_violation():
    faults = [Fault(JAN[5], "task_kill", "m", outcome=o) for o in ("recovered: x", "lost: y", "")]
    faults.append(Fault(JAN[6], "rollback", "m", outcome="failed closed: refused"))
    check = invariants.faults_accounted(faults)
    assert (check.checked, len(check.violations)) == (4, 2)


def test_the_fault_plan_is_seeded_spread_and_gives_delivery_faults_to_the_delivered_model():
    nights = [date(2013, 1, 1) + timedelta(days=i) for i in range(60)]
    first = plan(nights, 18, list(KINDS), ["delivered", "other"], seed=3)
    assert first == plan(nights, 18, list(KINDS), ["delivered", "other"], seed=3)
    assert first != plan(nights, 18, list(KINDS), ["delivered", "other"], seed=4)
    assert len({f.night for f in first}) == 18 and min(f.night for f in first) >= nights[5]
    assert {f.kind for f in first} == set(KINDS)  # each kind before any twice: 18 = 2 x 9
    assert all(f.model == "delivered" for f in first if f.kind in DELIVERY_FAULTS)
