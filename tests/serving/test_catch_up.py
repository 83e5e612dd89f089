"""A model that gets its first champion late scores the days it could not score, once, with
that champion (labelled ``catch_up``), back to ``scoring.catch_up_days`` before it; days
further back, and days of a model with catching up off, stay unscored."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.core.calendar import day_end
from pipelines.core.errors import NoChampionError
from pipelines.core.layout import CATCH_UP, CHAMPION, FEATURES, PREDICTIONS
from pipelines.core.spec import ScoringSpec
from pipelines.serving import history
from pipelines.serving.runs import scoring_run
from pipelines.training.context import RunContext
from pipelines.training.train import train
from tests.conftest import replay

pytestmark = [pytest.mark.integration, pytest.mark.slow]
JAN = [date(2013, 1, 1) + timedelta(days=i) for i in range(6)]
TRAINED = JAN[3]  # the first champion is trained for Jan 4: Jan 1-3 ran before it existed


@pytest.fixture
def late(tmp_path, synthetic_spec, lake):
    """Six replayed days whose nightly scoring of Jan 1-3 found no champion."""
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    replay(lake, synthetic_spec, JAN)

    def score(spec, day):
        return scoring_run(lake, spec, day, tracking, day_end(day, "UTC"), "test")

    for day in JAN[:3]:
        with pytest.raises(NoChampionError):
            score(synthetic_spec, day)
    trained = train(lake, synthetic_spec, TRAINED, tracking, RunContext(), str(tmp_path / "a"))
    assert trained.alias == CHAMPION
    return score


def served_as(lake, spec, day) -> set[str]:
    return set(lake.read_partition(PREDICTIONS, spec.name, day)["model_alias"].astype(str))


def written_at(lake, spec, day) -> int:
    return Path(lake.partition_path(PREDICTIONS, spec.name, day)).stat().st_mtime_ns


def test_the_first_champion_scores_the_days_before_it_once(late, synthetic_spec, lake):
    scored = late(synthetic_spec, TRAINED)  # its scoring ran while training crowned v1
    assert (scored.served_as, scored.champion) == (CATCH_UP, "1")
    assert scored.caught_up == [d.isoformat() for d in JAN[:3]]
    assert scored.days == [d.isoformat() for d in JAN[:4]]  # each day's predictions event
    for day in JAN[:4]:
        assert served_as(lake, synthetic_spec, day) == {CATCH_UP}
    first = history.read_history(lake, synthetic_spec.name)[0]
    assert first.at == day_end(TRAINED, "UTC")  # the history still says when v1 arrived

    written = {d: written_at(lake, synthetic_spec, d) for d in JAN[:3]}
    nightly = late(synthetic_spec, JAN[4])
    assert (nightly.served_as, nightly.caught_up) == (CHAMPION, [])
    assert served_as(lake, synthetic_spec, JAN[4]) == {CHAMPION}
    assert {d: written_at(lake, synthetic_spec, d) for d in JAN[:3]} == written


def test_catching_up_is_bounded_and_can_be_switched_off(late, synthetic_spec, lake):
    bounded = synthetic_spec.model_copy(update={"scoring": ScoringSpec(catch_up_days=2)})
    scored = late(bounded, TRAINED)
    assert scored.caught_up == [d.isoformat() for d in JAN[1:3]]  # Jan 4 - 2 days = Jan 2
    assert not lake.exists(PREDICTIONS, bounded.name, JAN[0])
    with pytest.raises(NoChampionError):  # a later backfill of Jan 1 is still too far back
        late(bounded, JAN[0])
    assert not lake.exists(PREDICTIONS, bounded.name, JAN[0])


def test_with_catching_up_off_the_days_before_the_first_champion_stay_unscored(
    late, synthetic_spec, lake
):
    off = synthetic_spec.model_copy(update={"scoring": ScoringSpec(catch_up_days=0)})
    with pytest.raises(NoChampionError, match="no champion yet to score 2013-01-04"):
        late(off, TRAINED)
    nightly = late(off, JAN[4])
    assert (nightly.served_as, nightly.caught_up) == (CHAMPION, [])
    assert [d for d in JAN if lake.exists(PREDICTIONS, off.name, d)] == [JAN[4]]


def test_a_night_scored_before_its_training_crowned_the_first_champion_is_caught_up_next(
    late, synthetic_spec, lake
):
    nightly = late(synthetic_spec, JAN[4])  # Jan 4's scoring ran before v1 was registered
    assert (nightly.served_as, nightly.champion) == (CHAMPION, "1")
    assert nightly.caught_up == [d.isoformat() for d in JAN[:4]]
    assert served_as(lake, synthetic_spec, TRAINED) == {CATCH_UP}


def test_a_day_that_cannot_be_caught_up_is_left_and_todays_scoring_goes_on(
    late, synthetic_spec, lake, caplog
):
    broken = lake.partition_path(FEATURES, synthetic_spec.name, JAN[1])
    Path(broken).write_bytes(b"not parquet")  # Jan 2's features were damaged since
    scored = late(synthetic_spec, TRAINED)
    assert scored.caught_up == [JAN[0].isoformat(), JAN[2].isoformat()]
    assert not lake.exists(PREDICTIONS, synthetic_spec.name, JAN[1])
    assert served_as(lake, synthetic_spec, TRAINED) == {CATCH_UP}
    assert "catching up 2013-01-02 failed" in caplog.text
