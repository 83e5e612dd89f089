"""Backfills never touch the present: a date behind the model's frontier (the newest date with a
promotion decision) judges against what served then and moves nothing live; each date is
decided once; people's actions never go back in time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.core.calendar import day_end
from pipelines.core.errors import ConcurrentPromotionError, PromotionError
from pipelines.core.layout import CHALLENGER, CHAMPION, PREVIOUS
from pipelines.core.registry import Registry
from pipelines.core.spec import PromotionSpec
from pipelines.serving import history
from pipelines.serving.runs import BEHIND, NO_CHAMPION, promotion_run, rollback_run
from pipelines.training.train import train
from tests.conftest import replay
from tests.serving.conftest import START
from tests.serving.test_promotion_flow import aliases, copy_as_challenger

pytestmark = [pytest.mark.integration, pytest.mark.slow]
JAN = {d: START + timedelta(days=d - 1) for d in range(1, 10)}  # JAN[4] is 2013-01-04


def end(day: int) -> datetime:
    return day_end(JAN[day], "UTC")


def test_each_night_is_decided_once_and_a_past_night_decides_nothing(world):
    spec, lake, tracking, client = world
    copy_as_challenger(client, spec.name, "1")
    started = promotion_run(lake, spec, tracking, end(4), "night 4")
    assert (started["action"], history.frontier(lake, spec.name)) == ("start", JAN[4])
    records = history.read_history(lake, spec.name)

    again = promotion_run(lake, spec, tracking, end(4), "night 4, a second event")
    assert again["repeated"] and again["action"] == "start" and not again["applied"]
    past = promotion_run(lake, spec, tracking, end(3), "a backfill of night 3")
    assert (past["action"], past["applied"]) == (BEHIND, False)
    assert "behind the frontier 2013-01-04" in past["why"]
    assert history.read_history(lake, spec.name) == records
    assert history.decision_on(lake, spec.name, JAN[3]) is None


def test_a_day_no_champion_served_and_a_day_not_over_decide_nothing(world):
    spec, lake, tracking, client = world
    copy_as_challenger(client, spec.name, "1")
    early = promotion_run(lake, spec, tracking, end(2), "a caught-up night 2")
    assert (early["action"], early["applied"]) == (NO_CHAMPION, False)  # v1 came at Jan 3's end
    assert history.decision_on(lake, spec.name, JAN[2]) is None
    assert history.frontier(lake, spec.name) is None
    records = history.read_history(lake, spec.name)
    with pytest.raises(PromotionError, match="is not over yet"):
        promotion_run(lake, spec, tracking, datetime.now(UTC), "a form without a date")
    assert history.read_history(lake, spec.name) == records
    assert history.frontier(lake, spec.name) is None
    later = promotion_run(lake, spec, tracking, end(4), "night 4")  # the present is unmoved
    assert later["action"] == "start"


def test_a_backfilled_training_judges_against_what_served_then_and_moves_no_alias(world, tmp_path):
    spec, lake, tracking, client = world
    challenger = copy_as_challenger(client, spec.name, "1")
    promotion_run(lake, spec, tracking, end(4), "night 4")  # frontier: Jan 4
    before = aliases(client, spec.name)
    assert before == {CHAMPION: "1", CHALLENGER: challenger, PREVIOUS: None}

    backfill = history.backfill_of(lake, spec.name, JAN[2], "UTC")
    assert backfill is not None and backfill.frontier == JAN[4]
    assert backfill.champion is None  # v1 was crowned when Jan 3 ended
    result = train(lake, spec, JAN[2], tracking, None, str(tmp_path / "b"), backfill=backfill)
    assert result.gate == "pass" and result.alias == ""  # it passed, and moved nothing
    version = client.get_model_version(spec.name, result.version)
    assert version.tags["mlops.behind_frontier"] == "2013-01-04"
    assert version.tags["mlops.decision"] == "backfill"
    assert "judged against no champion" in version.tags["mlops.decision.why"]
    assert aliases(client, spec.name) == before
    assert history.backfill_of(lake, spec.name, JAN[4], "UTC") is None  # at the frontier


def test_a_backfill_after_the_first_champion_is_judged_against_that_champion(world, tmp_path):
    spec, lake, tracking, client = world
    replay(lake, spec, [JAN[4], JAN[5]])
    promotion_run(lake, spec, tracking, end(5), "night 5")
    backfill = history.backfill_of(lake, spec.name, JAN[4], "UTC")
    assert backfill is not None and backfill.champion == "1"
    result = train(lake, spec, JAN[4], tracking, None, str(tmp_path / "b"), backfill=backfill)
    version = client.get_model_version(spec.name, result.version)
    assert version.tags["mlops.gate.champion_value"]  # compared with v1 on the same holdout
    assert "judged against v1" in version.tags["mlops.decision.why"]
    assert aliases(client, spec.name)[CHAMPION] == "1"


def test_a_persons_action_is_stamped_in_the_models_present_and_times_never_decrease(world):
    spec, lake, tracking, client = world
    spec = spec.model_copy(update={"promotion": PromotionSpec()})  # replace at once
    copy_as_challenger(client, spec.name, "1")
    promotion_run(lake, spec, tracking, end(4), "night 4")  # replace: v2 champion
    wall_clock = datetime(2026, 12, 1, 15, tzinfo=UTC)  # a replay of 2013, run today
    rolled = rollback_run(lake, spec, tracking, None, "bad numbers", wall_clock, "alice")
    assert rolled["champion"] == "1"
    last = history.read_history(lake, spec.name)[-1]
    assert last.action == "rollback" and last.at == end(5)  # not 2026: the next night's end
    promotion_run(lake, spec, tracking, end(5), "night 5")
    times = [r.at for r in history.read_history(lake, spec.name)]
    assert times == sorted(times)
    assert history.champion_at(lake, spec.name, end(5) + timedelta(seconds=1)) == "1"
    assert history.champion_at(lake, spec.name, end(4) + timedelta(seconds=1)) == "2"


def test_a_promotion_run_with_a_stale_expected_sequence_changes_nothing(world):
    spec, lake, tracking, client = world
    copy_as_challenger(client, spec.name, "1")
    history.current_state(lake, Registry(tracking), spec.name, "setup", "UTC")
    before = (aliases(client, spec.name), history.read_history(lake, spec.name))
    with pytest.raises(ConcurrentPromotionError, match="changed while waiting"):
        promotion_run(lake, spec, tracking, end(4), "approver", approved=True, expected_seq=7)
    assert (aliases(client, spec.name), history.read_history(lake, spec.name)) == before
    assert history.decision_on(lake, spec.name, JAN[4]) is None


def test_a_rollback_while_a_backfill_trains_keeps_both_and_moves_only_what_the_person_asked(
    world, tmp_path
):
    spec, lake, tracking, client = world
    spec = spec.model_copy(update={"promotion": PromotionSpec()})  # replace at once
    copy_as_challenger(client, spec.name, "1")
    promotion_run(lake, spec, tracking, end(4), "night 4")  # v2 champion, v1 previous
    backfill = history.backfill_of(lake, spec.name, JAN[2], "UTC")
    trained = train(lake, spec, JAN[2], tracking, None, str(tmp_path / "b"), backfill=backfill)
    assert not trained.reused
    rollback_run(lake, spec, tracking, None, "incident", end(4), "alice")
    assert aliases(client, spec.name) == {CHAMPION: "1", CHALLENGER: None, PREVIOUS: "2"}
    assert client.get_model_version(spec.name, trained.version).aliases == []
    assert [r.action for r in history.read_history(lake, spec.name)][-1] == "rollback"


def test_dates_are_the_models_own(world):
    """The decision of night D is stamped at the end of D in the model's timezone."""
    spec, lake, tracking, _ = world
    schedules = spec.schedules.model_copy(update={"timezone": "America/New_York"})
    new_york = spec.model_copy(update={"schedules": schedules})
    end_of_4th = day_end(date(2013, 1, 4), "America/New_York")
    assert end_of_4th.astimezone(UTC).date() == date(2013, 1, 5)  # already the 5th in UTC
    promotion_run(lake, new_york, tracking, end_of_4th, "night")
    assert history.frontier(lake, spec.name) == date(2013, 1, 4)
