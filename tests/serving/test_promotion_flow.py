"""Promotion over replayed days with a real MLflow registry and lake: stepwise, abort, pause,
rollback, the history, a backfill, and two promotion runs racing."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import mlflow
import numpy as np
import pytest

from pipelines.core import layout
from pipelines.core.errors import ConcurrentPromotionError, PromotionError
from pipelines.core.layout import CHALLENGER, CHAMPION, PREVIOUS
from pipelines.core.registry import Registry
from pipelines.core.spec import DriftEvent, PromotionSpec
from pipelines.core.storage import Lake
from pipelines.serving import history
from pipelines.serving import state as promotion
from pipelines.serving.runs import promotion_run, rollback_run, scoring_run
from pipelines.serving.split import challenger_mask
from pipelines.training.pyfunc import as_model_input
from pipelines.training.registration import apply_gate
from pipelines.training.train import train
from tests.conftest import replay

pytestmark = [pytest.mark.integration, pytest.mark.slow]
START = date(2013, 1, 1)


class Constant(mlflow.pyfunc.PythonModel):
    """A deliberately bad challenger: the same number for every row."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, context, model_input, params=None):
        return np.full(len(model_input), self.value)


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(6), UTC)


def copy_as_challenger(client, model: str, version: str) -> str:
    """A new version with the same model: as good as the champion."""
    source = client.get_model_version(model, version)
    new = client.create_model_version(model, source.source, source.run_id)
    client.set_registered_model_alias(model, CHALLENGER, new.version)
    return str(new.version)


def constant_challenger(client, tracking: str, model: str, value: float) -> str:
    mlflow.set_tracking_uri(tracking)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant(value))
    new = client.create_model_version(model, info.model_uri, info.run_id)
    client.set_registered_model_alias(model, CHALLENGER, new.version)
    return str(new.version)


def drifted_challenger(spec, tracking: str, folder, day: date) -> str:
    """A version trained on a period of synthetic concept drift (every relationship turned
    around): it wins the offline gate on that period, so training makes it challenger, and
    it is worse on the live traffic, which has no drift."""
    options = spec.source.options.model_copy(
        update={"drift": [DriftEvent(kind="concept_drift", start=START, magnitude=1.0)]}
    )
    source = spec.source.model_copy(update={"options": options})
    drifted = spec.model_copy(update={"source": source})
    lake = Lake(str(folder / "drifted-lake"))
    replay(lake, drifted, [day - timedelta(days=i) for i in range(4, 0, -1)])
    result = train(lake, drifted, day - timedelta(days=1), tracking, None, str(folder / "a2"))
    assert result.alias == CHALLENGER, result
    return result.version


def night(spec, lake, tracking, day: date) -> tuple[dict, dict]:
    """What the nightly DAGs do after day D: deliver, score D, then one promotion run."""
    replay(lake, spec, [day])
    scored = scoring_run(lake, spec, day, tracking, end_of(day), "scoring").to_dict()
    return scored, promotion_run(lake, spec, tracking, end_of(day), "promotion")


def aliases(client, model: str) -> dict[str, str | None]:
    registry = Registry(client.tracking_uri)
    found = {a: registry.alias_version(model, a) for a in (CHAMPION, CHALLENGER, PREVIOUS)}
    return {a: str(v.version) if v else None for a, v in found.items()}


def test_stepwise_promotion_abort_pause_and_rollback_over_replayed_days(world):
    spec, lake, tracking, client = world
    model = spec.name
    good = copy_as_challenger(client, model, "1")
    day = START + timedelta(days=3)
    shares, actions = [], []
    while aliases(client, model)[CHAMPION] != good and day < START + timedelta(days=24):
        scored, decided = night(spec, lake, tracking, day)
        shares.append(scored["share"])
        actions.append(decided["action"])
        day += timedelta(days=1)
    assert aliases(client, model) == {CHAMPION: good, CHALLENGER: None, PREVIOUS: "1"}
    assert sorted(set(shares)) == [0.0, 0.1, 0.25, 0.5]
    assert [a for a in actions if a not in ("hold", "idle")] == [
        "start",
        "advance",
        "advance",
        "promote",
    ]
    # Scored rows carry the version that scored them, in the challenger's share.
    day_at_25 = START + timedelta(days=3 + shares.index(0.25))
    frame = lake.read_table(lake.partition_path("predictions", model, day_at_25)).to_pandas()
    assert set(frame["model_version"]) == {"1", good}
    expected = challenger_mask(frame[spec.entity_key], frame["rollout_salt"][0], 0.25)
    assert 0.2 < expected.mean() < 0.3
    # The fast path (one float matrix, row slices) predicts what the logged pyfunc predicts.
    mlflow.set_tracking_uri(tracking)
    logged = mlflow.pyfunc.load_model(f"models:/{model}/1")  # v2 is the same model
    features = lake.read_table(lake.partition_path("features", model, day_at_25)).to_pandas()
    by_pyfunc = logged.predict(as_model_input(features, spec))
    assert np.allclose(frame["prediction"].to_numpy(), np.asarray(by_pyfunc))
    assert (frame["model_version"] == good).to_numpy().tolist() == expected.tolist()

    # A bad challenger (constant predictions) is taken out on evidence, automatically.
    bad = constant_challenger(client, tracking, model, -50.0)
    for _ in range(4):
        _, decided = night(spec, lake, tracking, day)
        day += timedelta(days=1)
        if decided["action"] == "abort":
            break
    assert decided["action"] == "abort"
    assert aliases(client, model) == {CHAMPION: good, CHALLENGER: None, PREVIOUS: "1"}
    assert client.get_model_version(model, bad).tags["mlops.rollout.ended"] == "abort"

    # A challenger that predicts NaN serves no row: the champion scores all, rollout paused.
    broken = constant_challenger(client, tracking, model, float("nan"))
    night(spec, lake, tracking, day)  # starts the rollout at 10%
    day += timedelta(days=1)
    scored, decided = night(spec, lake, tracking, day)
    assert scored["fallback"].startswith(f"challenger v{broken} failed")
    assert scored["rows_by_version"] == {good: scored["rows"]}
    tags = client.get_model_version(model, broken).tags
    assert tags["mlops.rollout.paused"].startswith(f"challenger v{broken} failed")
    assert tags["mlops.rollout.share"] == "0"
    assert decided["action"] == "hold"

    # Rollback: previous becomes champion again, recorded; a bad target changes nothing.
    history_before = history.read_history(lake, model)
    with pytest.raises(PromotionError, match="version '999' is not registered"):
        rollback_run(lake, spec, tracking, "999", "typo", end_of(day), "alice")
    assert history.read_history(lake, model) == history_before
    rolled = rollback_run(lake, spec, tracking, None, "incident 42", end_of(day), "alice")
    assert (rolled["champion"], rolled["previous"]) == ("1", good)
    assert aliases(client, model) == {CHAMPION: "1", CHALLENGER: None, PREVIOUS: good}
    last = history.read_history(lake, model)[-1]
    assert (last.action, last.by, last.why, last.released) == (
        "rollback",
        "alice",
        "incident 42",
        broken,
    )

    # The history answers "who was champion at T"; a backfill scores with that day's models.
    records = history.read_history(lake, model)
    promoted_at = next(r.at for r in records if r.action == "promote")
    assert history.champion_at(lake, model, promoted_at) == "1"
    assert history.champion_at(lake, model, promoted_at + timedelta(seconds=1)) == good
    assert history.champion_at(lake, model, end_of(day) + timedelta(seconds=1)) == "1"
    assert history.champion_at(lake, model, datetime(2012, 1, 1, tzinfo=UTC)) is None
    at_10 = START + timedelta(days=4)  # scored by v1 with v2 at 10% back then
    path = lake.partition_path("predictions", model, at_10)
    original = lake.read_table(path).to_pandas()
    backfill = scoring_run(lake, spec, at_10, tracking, end_of(at_10), "backfill")
    assert (backfill.champion, backfill.challenger, backfill.share) == ("1", good, 0.1)
    rescored = lake.read_table(path).to_pandas()
    assert rescored["model_version"].tolist() == original["model_version"].tolist()
    assert np.allclose(rescored["prediction"], original["prediction"])
    assert [r.seq for r in records] == list(range(1, len(records) + 1))


def test_a_version_that_passes_during_a_rollout_waits_for_it_to_end(world):
    """Training never takes the challenger alias from a running rollout (the next promotion
    run would put it back, and the new version would be lost): the version waits, tagged,
    and its own rollout starts the night after the running one ends."""
    spec, lake, tracking, client = world
    model, registry = spec.name, Registry(tracking)
    first = copy_as_challenger(client, model, "1")
    day = START + timedelta(days=3)
    assert night(spec, lake, tracking, day)[1]["action"] == "start"
    source = client.get_model_version(model, "1")
    waiting = str(client.create_model_version(model, source.source, source.run_id).version)
    assert apply_gate(registry, model, waiting, True, [], "training") == ""
    assert aliases(client, model)[CHALLENGER] == first
    why = client.get_model_version(model, waiting).tags["mlops.decision.why"]
    assert why.endswith(f"waits for the rollout of v{first} to end")
    decided = []
    for _ in range(24):
        day += timedelta(days=1)
        action = night(spec, lake, tracking, day)[1]
        decided.append((action["action"], action.get("version")))
        if action["action"] == "start":
            break
    assert ("promote", first) in decided and decided[-1] == ("start", waiting)
    assert aliases(client, model) == {CHAMPION: first, CHALLENGER: waiting, PREVIOUS: "1"}


def test_two_promotion_runs_racing_write_one_transition(world):
    spec, lake, tracking, client = world
    replay(lake, spec, [START + timedelta(days=3)])
    copy_as_challenger(client, spec.name, "1")
    barrier = threading.Barrier(2)
    outcomes: list[object] = []
    read_state = history.current_state

    def slow_read(*args, **kwargs):  # both runs read the same state before either writes
        state = read_state(*args, **kwargs)
        barrier.wait(timeout=30)
        return state

    def run() -> None:
        try:
            night = end_of(START + timedelta(days=3))
            outcomes.append(promotion_run(lake, spec, tracking, night, "racer"))
        except ConcurrentPromotionError as exc:
            outcomes.append(exc)

    # the history starts before the race
    history.current_state(lake, Registry(tracking), spec.name, "setup", "UTC")
    history.current_state = slow_read  # type: ignore[assignment]
    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        history.current_state = read_state  # type: ignore[assignment]
    errors = [o for o in outcomes if isinstance(o, ConcurrentPromotionError)]
    done = [o for o in outcomes if isinstance(o, dict)]
    assert (len(errors), len(done)) == (1, 1)
    assert [r.action for r in history.read_history(lake, spec.name)] == ["bootstrap", "start"]


def test_a_crash_between_history_and_registry_is_finished_by_the_next_run(world):
    spec, lake, _, client = world
    state = history.current_state(lake, Registry(client.tracking_uri), spec.name, "setup", "UTC")
    challenger = copy_as_challenger(client, spec.name, "1")
    client.delete_registered_model_alias(spec.name, CHALLENGER)  # left behind by the crash
    _, record = promotion.start(state, challenger, [100], end_of(START), "x", "replace")
    path = layout.history_record(spec.name, record.seq)
    lake.write_json(record.to_dict(), path)  # the history was written, the registry was not
    assert aliases(client, spec.name)[CHAMPION] == "1"
    history.reconcile(lake, Registry(client.tracking_uri), spec.name)
    assert aliases(client, spec.name) == {CHAMPION: challenger, CHALLENGER: None, PREVIOUS: "1"}


def test_a_step_outside_its_window_waits_and_changes_nothing(world):
    spec, lake, tracking, client = world
    window = {"cron": "0 9 * * 1-5", "hours": 7, "timezone": "America/New_York"}
    spec = spec.model_copy(update={"promotion": PromotionSpec(strategy="scheduled", window=window)})
    challenger = copy_as_challenger(client, spec.name, "1")
    saturday_noon = datetime(2013, 1, 5, 17, tzinfo=UTC)
    decided = promotion_run(lake, spec, tracking, saturday_noon, "promotion")
    assert (decided["action"], decided["applied"]) == ("wait", False)
    assert "outside the window" in decided["why"]
    assert aliases(client, spec.name) == {CHAMPION: "1", CHALLENGER: challenger, PREVIOUS: None}
    monday_ten = datetime(2013, 1, 7, 15, tzinfo=UTC)
    decided = promotion_run(lake, spec, tracking, monday_ten, "promotion")
    assert (decided["action"], decided["champion"]) == ("replace", challenger)
    assert aliases(client, spec.name) == {CHAMPION: challenger, CHALLENGER: None, PREVIOUS: "1"}


def test_a_person_advances_then_aborts_a_rollout_by_hand(world):
    """The promotion form's advance / abort: recorded with the person and the reason."""
    from pipelines.serving.runs import manual_run
    from pipelines.status import model_status

    spec, lake, tracking, client = world
    model, now = spec.name, end_of(START)
    challenger = copy_as_challenger(client, model, "1")

    started = manual_run(lake, spec, tracking, "advance", "looks fine offline", now, "ana")
    assert (started["action"], started["version"], started["share"]) == ("start", challenger, 0.1)
    stepped = manual_run(lake, spec, tracking, "advance", "busy day ahead", now, "ana")
    assert (stepped["action"], stepped["share"]) == ("advance", 0.25)
    status = model_status(lake, Registry(tracking), spec).to_dict()
    assert (status["share"], status["step"], status["steps"]) == (0.25, 1, [10, 25, 50, 100])
    assert [r["action"] for r in status["history"]] == ["advance", "start", "bootstrap"]
    assert status["history"][0]["by"] == "ana"
    assert status["history"][0]["why"] == "by hand: busy day ahead"
    assert status["last_gate"]["version"] == "1"  # v2 was registered by hand: no verdict

    aborted = manual_run(lake, spec, tracking, "abort", "pager went off", now, "bo")
    assert (aborted["action"], aborted["champion"]) == ("abort", "1")
    assert aliases(client, model) == {CHAMPION: "1", CHALLENGER: None, PREVIOUS: None}


@pytest.mark.parametrize(
    ("action", "why", "message"),
    [
        ("advance", "no challenger yet", "no challenger waiting"),
        ("abort", "nothing to abort", "no rollout in progress"),
        ("advance", "", "needs a reason"),
        ("promote-all", "because", "choose one of"),
    ],
)
def test_a_manual_promotion_that_cannot_apply_changes_nothing(world, action, why, message):
    from pipelines.serving.runs import manual_run

    spec, lake, tracking, client = world
    # the history's first record
    history.current_state(lake, Registry(tracking), spec.name, "setup", "UTC")
    before = (aliases(client, spec.name), history.read_history(lake, spec.name))
    assert len(before[1]) == 1
    with pytest.raises(PromotionError, match=message):
        manual_run(lake, spec, tracking, action, why, end_of(START), "ana")
    assert (aliases(client, spec.name), history.read_history(lake, spec.name)) == before
