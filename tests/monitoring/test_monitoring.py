"""Monitoring scenarios on the synthetic source (and real flights) with a real MLflow registry
and lake: no drift, covariate shift, concept drift once labels arrive, labels late,
prediction drift, guardrails, bad input; and winter vs summer weather on the 2013 flights."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import pytest
from mlflow import MlflowClient

from pipelines.core.calendar import day_end
from pipelines.core.errors import NoChampionError, PartitionMissingError
from pipelines.core.layout import CHAMPION, RAW, Tags, labels_dataset, retrain_decision
from pipelines.core.registry import Registry
from pipelines.core.spec import DriftEvent, DriftTestSpec, RetrainingSpec, ScoringSpec
from pipelines.core.storage import Lake
from pipelines.monitoring import runs as monitoring
from pipelines.monitoring.check import monitor_day
from pipelines.serving.runs import scoring_run
from pipelines.training.context import RunContext
from pipelines.training.train import train
from tests.conftest import replay

pytestmark = [pytest.mark.integration, pytest.mark.slow]
START = date(2013, 1, 1)
TRAINED = START + timedelta(days=3)  # the champion is trained on day 4 (days 1-3 labelled)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_spec_module):
    """A champion trained on four clean synthetic days; it serves from day 5 on."""
    folder = tmp_path_factory.mktemp("monitoring")
    spec = synthetic_spec_module
    lake = Lake(str(folder / "lake"))
    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    replay(lake, spec, [START + timedelta(days=i) for i in range(4)])
    result = train(lake, spec, TRAINED, tracking, RunContext(), str(folder / "artifacts"))
    assert result.alias == CHAMPION
    return folder, spec, tracking


@pytest.fixture(scope="module")
def synthetic_spec_module():
    from pipelines.core.spec import parse_spec
    from tests.conftest import steady_synthetic

    return parse_spec(steady_synthetic(), "synthetic_demand.yaml")


def world(trained, tmp_path, *events: DriftEvent, **retraining):
    """A copy of the trained lake whose later days carry ``events``; same registry. Days
    before the champion are not caught up, so day 5's labels are those of an unscored day."""
    folder, spec, tracking = trained
    lake_dir = tmp_path / "lake"
    shutil.copytree(folder / "lake", lake_dir)
    options = spec.source.options.model_copy(update={"drift": list(events)})
    spec = spec.model_copy(
        update={
            "source": spec.source.model_copy(update={"options": options}),
            "retraining": RetrainingSpec(**retraining),
            "scoring": ScoringSpec(catch_up_days=0),
        }
    )
    return spec, Lake(str(lake_dir)), tracking


def night(spec, lake, tracking, day):
    """Deliver day D, score it, and run the monitoring steps (check and guarded decision)."""
    replay(lake, spec, [day])
    scoring_run(lake, spec, day, tracking, day_end(day, "UTC"), "test")
    result, _ = monitoring.check(lake, spec, day, tracking)
    return result, monitoring.decide(lake, spec, day, tracking, result.triggers)


def test_no_drift_no_trigger_and_the_reference_is_stored(trained, tmp_path):
    spec, lake, tracking = world(trained, tmp_path)
    client = MlflowClient(tracking)
    assert client.get_model_version(spec.name, "1").tags[Tags.REFERENCE_URI].startswith("runs:/")
    first = TRAINED + timedelta(days=1)
    result, _ = night(spec, lake, tracking, first)
    assert result.labels == f"no predictions for {TRAINED}"  # day 4 was not scored
    day = first + timedelta(days=1)
    result, decision = night(spec, lake, tracking, day)
    assert result.version == "1" and result.rows == 2000
    assert result.drifted_columns == [] and not result.data_drift
    assert [p.drifted for p in result.prediction] == [False]
    assert result.labels == "in" and result.labels_day == first
    assert [(p.version, p.decayed) for p in result.performance] == [("1", False)]
    assert result.triggers == [] and not decision.retrain
    assert decision.why == "no retrain: no trigger"
    saved = lake.read_json(retrain_decision(spec.name, day))
    assert saved["retrain"] is False
    # The run in MLflow holds the scores and the verdicts.
    run = client.search_runs(
        [client.get_experiment_by_name(monitoring.experiment_name(spec.name)).experiment_id]
    )[0]
    assert {"drift.num_0", "drifted_share", "live_rmse.v1"} <= set(run.data.metrics)
    # The Evidently report on a sample, in the lake and in the run.
    files, run_id = monitoring.report(lake, spec, day, tracking, "1")
    assert run_id == run.info.run_id
    html = lake.read_bytes(f"monitoring/{spec.name}/date={day}/evidently.html").decode()
    assert "<html" in html.lower() and files.rows == 2000 and files.drifted_share < 0.3
    names = {a.path for a in client.list_artifacts(run_id, "evidently")}
    assert names == {"evidently/evidently.html", "evidently/evidently.json"}


def test_covariate_shift_is_data_drift_and_requests_a_retrain(trained, tmp_path):
    day = TRAINED + timedelta(days=1)
    shifted = ["num_0", "num_1", "num_2", "num_3"]
    event = DriftEvent(kind="covariate_shift", start=day, columns=shifted, magnitude=1.0)
    spec, lake, tracking = world(trained, tmp_path, event)
    result, decision = night(spec, lake, tracking, day)
    assert result.drifted_columns == shifted
    assert all(c.score > 0.5 for c in result.columns if c.drifted)
    assert result.data_drift and result.drifted_share == pytest.approx(0.4)
    assert decision.retrain and decision.triggers[0].startswith("data drift: 40%")
    assert "num_0 (psi" in decision.triggers[0]
    # The day is monitored again (a re-delivery, a cleared task): the request stands, it is
    # neither repeated nor overwritten by a "held" (the new version's cooldown).
    again = monitoring.decide(lake, spec, day, tracking, result.triggers)
    assert again.repeated and again.retrain and again.triggers == decision.triggers
    assert lake.read_json(retrain_decision(spec.name, day))["retrain"] is True


def test_concept_drift_shows_once_labels_arrive_and_late_labels_wait(trained, tmp_path):
    first = TRAINED + timedelta(days=1)
    event = DriftEvent(kind="concept_drift", start=first, magnitude=1.0)
    spec, lake, tracking = world(trained, tmp_path, event)
    # Day 5: features look as always; its labels are not in yet (they come with day 6).
    result, decision = night(spec, lake, tracking, first)
    assert not result.data_drift and not decision.retrain
    assert result.performance == []
    # Day 6 delivered, but the labels of day 5 are late: nothing is judged on them.
    second = first + timedelta(days=1)
    replay(lake, spec, [second])
    scoring_run(lake, spec, second, tracking, day_end(second, "UTC"), "test")
    labels = lake.partition_path(RAW, labels_dataset(spec.source.dataset), first)
    held = lake.read_table(labels).to_pandas()
    lake.delete(labels)
    late, _ = monitoring.check(lake, spec, second, tracking)
    assert late.labels == "pending" and late.performance == [] and late.triggers == []
    # The labels arrive: the live error of v1 is far above its holdout error.
    lake.write_file(held, labels)
    result, _ = monitoring.check(lake, spec, second, tracking)
    (performance,) = result.performance
    assert performance.decayed and performance.live > 1.5 * performance.reference
    assert not result.data_drift
    assert any(t.startswith("decay of v1: live rmse") for t in result.triggers)


def test_prediction_drift_of_the_champion_is_a_trigger(trained, tmp_path):
    day = TRAINED + timedelta(days=1)
    event = DriftEvent(kind="covariate_shift", start=day, columns=[], magnitude=0.0)
    numeric = [f"num_{i}" for i in range(8)]
    events = [event.model_copy(update={"columns": numeric, "magnitude": 3.0})]
    spec, lake, tracking = world(trained, tmp_path, *events, on_data_drift=False)
    result, decision = night(spec, lake, tracking, day)
    (prediction,) = result.prediction
    assert prediction.column == "1" and prediction.drifted
    assert prediction.score >= spec.drift.prediction.limit
    assert [t.split(":")[0] for t in result.triggers] == ["prediction drift of v1"]
    assert decision.retrain


def test_guardrails_hold_a_wanted_retrain_and_say_why(trained, tmp_path):
    day = TRAINED + timedelta(days=1)
    event = DriftEvent(kind="covariate_shift", start=day, columns=["num_0", "num_1", "num_2"])
    spec, lake, tracking = world(trained, tmp_path, event, cooldown_hours=72)
    result, decision = night(spec, lake, tracking, day)
    assert result.triggers and not decision.retrain
    assert decision.held_by == [
        f"cooldown: 24 h since the last retrain on {TRAINED} (< 72 h)",
    ]
    assert decision.why.startswith("no retrain (held: cooldown")
    # Too few new labels, and the weekly cap, each hold on their own.
    rows_rule = spec.retraining.model_copy(update={"min_new_labelled_rows": 10**6})
    spec = spec.model_copy(update={"retraining": rows_rule})
    later = day + timedelta(days=2)
    replay(lake, spec, [day + timedelta(days=1)])
    _, decision = night(spec, lake, tracking, later)
    assert decision.held_by == [
        "only 6000 new labelled rows since the last training window (< 1000000)"
    ]
    capped = spec.model_copy(update={"retraining": RetrainingSpec(max_per_week=1)})
    for earlier in (day, day + timedelta(days=1)):  # one request already this week
        lake.write_json({"retrain": True}, retrain_decision(spec.name, earlier))
    _, decision = night(capped, lake, tracking, later + timedelta(days=1))
    assert decision.held_by == ["2 retrains requested in the last 7 days (cap 1)"]
    assert decision.facts["requests_last_week"] == 2


def test_bad_input_is_a_clear_error_and_changes_nothing(trained, tmp_path):
    spec, lake, tracking = world(trained, tmp_path)
    client = MlflowClient(tracking)
    missing = TRAINED + timedelta(days=30)
    with pytest.raises(PartitionMissingError, match="no features for 2013-02-03"):
        monitor_day(lake, spec, missing, Registry(tracking))
    assert not lake.exists_path(f"monitoring/{spec.name}/date={missing}/drift.json")
    # A champion without a reference profile (trained before monitoring): named, not guessed.
    version = client.create_model_version(spec.name, "file:///nowhere", None)
    client.set_registered_model_alias(spec.name, CHAMPION, version.version)
    try:
        day = TRAINED + timedelta(days=1)
        replay(lake, spec, [day])
        with pytest.raises(NoChampionError, match="has no reference profile"):
            monitor_day(lake, spec, day, Registry(tracking))
        assert not lake.exists_path(f"monitoring/{spec.name}/date={day}/drift.json")
    finally:
        client.set_registered_model_alias(spec.name, CHAMPION, "1")
        client.delete_model_version(spec.name, version.version)
    assert str(Registry(tracking).alias_version(spec.name, CHAMPION).version) == "1"


def test_flights_winter_model_sees_summer_weather_drift(tmp_path, flight_spec):
    """Weather moves day to day even in January (psi flags it), so weather is judged here by
    the normed Wasserstein distance (in reference standard deviations) with a seasonal
    threshold of 3: July 13-15 is ~8.6 from the Jan 1-7 reference, Jan 8-10 ~1.4 (measured).
    What flights are scheduled does not drift."""
    by_distance = DriftTestSpec(test="wasserstein", threshold=3.0)
    rules = {"window_days": 3, "columns": {"temp": by_distance, "dewp": by_distance}}
    spec = flight_spec.model_copy(update={"drift": flight_spec.drift.model_copy(update=rules)})
    lake = Lake(str(tmp_path / "lake"))
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    january = [date(2013, 1, d) for d in range(1, 11)]
    replay(lake, spec, january)
    train(lake, spec, january[-1], tracking, RunContext(), str(tmp_path / "artifacts"))
    winter = monitor_day(lake, spec, january[-1], Registry(tracking))
    july = [date(2013, 7, d) for d in (13, 14, 15)]
    replay(lake, spec, july)
    summer = monitor_day(lake, spec, july[-1], Registry(tracking))
    assert summer.rows > 2500 and winter.rows > 2500  # three days each
    cold, warm = ({c.column: c for c in r.columns} for r in (winter, summer))
    for weather in ("temp", "dewp"):
        assert warm[weather].test == "wasserstein" and warm[weather].drifted
        assert not cold[weather].drifted
        assert warm[weather].score > 3 * cold[weather].score
    for schedule in ("carrier", "origin", "distance", "sched_dep_hour"):
        assert not cold[schedule].drifted and not warm[schedule].drifted, schedule
    assert summer.data_drift and summer.triggers[0].startswith("data drift")
