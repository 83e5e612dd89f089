"""The promotion state machine: invariants over random event sequences, and each decision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.errors import PromotionError
from pipelines.core.spec import PromotionSpec
from pipelines.serving import state as promotion
from pipelines.serving.policy import LiveComparison, compare_cohorts, decide
from pipelines.serving.state import Rollout, State

pytestmark = pytest.mark.unit
T0 = datetime(2013, 1, 10, 7, tzinfo=UTC)
STEPS = [10, 25, 50, 100]
EVENTS = st.sampled_from(["start", "advance", "abort", "pause", "rollback"])


def good(rows: int = 1000) -> LiveComparison:
    return LiveComparison(rows, rows, 0.5, 0.49, -0.01, -0.02, -0.001, 0.95)


def bad(rows: int = 1000) -> LiveComparison:
    return LiveComparison(rows, rows, 0.5, 0.6, 0.1, 0.08, 0.12, 0.95)


def apply_event(state: State, event: str, version: str, at: datetime) -> tuple:
    """One transition of the state machine, as a test event names it."""
    if event == "start":
        return promotion.start(state, version, STEPS, at, "t", "new")
    if event == "advance":
        return promotion.advance(state, STEPS, at, "t", "good")
    if event == "abort":
        return promotion.abort(state, at, "t", "bad")
    if event == "pause":
        return promotion.pause(state, at, "t", "nan")
    return promotion.rollback(state, None, at, "t", "oops")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(EVENTS, st.integers(1, 6)), max_size=40))
def test_random_event_sequences_keep_every_invariant(events):
    state, first = promotion.bootstrap(State("m", None), "1", T0, "gate", "first")
    history = [first]
    at = T0
    for event, version in events:
        at += timedelta(hours=1)
        try:
            state, record = apply_event(state, event, str(version), at)
        except PromotionError:
            continue  # refused: the state is untouched (it is immutable), nothing recorded
        history.append(record)
        assert [r.seq for r in history] == list(range(1, len(history) + 1))
        assert state.champion is not None
        assert state.rollout is None or 0 <= state.rollout.share < 1
        assert promotion.state_after(record) == state  # the history alone rebuilds the state
        if record.action in ("promote", "replace", "rollback"):
            assert state.previous == record.from_version
    assert promotion.state_at(history, "m", at + timedelta(seconds=1)) == state


# A night's decision at its end; a person's action at any time, earlier ones included (a
# rollback stamped by a clock behind the replayed nights, a backfill's time).
TIMED = st.tuples(EVENTS, st.integers(1, 6), st.integers(-48, 48), st.booleans())


def brute_force_champion(history: list, moment: datetime) -> str | None:
    """The champion of the newest record made before ``moment`` (by sequence), from scratch."""
    before = [r for r in history if r.at < moment]
    return max(before, key=lambda r: r.seq).champion if before else None


@settings(max_examples=300, deadline=None)
@given(st.lists(TIMED, max_size=40), st.lists(st.integers(-60, 60 * 40), max_size=20))
def test_people_and_backfills_interleaved_keep_times_ordered_and_champion_at_right(events, probes):
    """Whatever time an action asks for, records are ordered by sequence and their times never
    decrease, so champion_at(T) (which stops at the first record after T) is always right."""
    state, first = promotion.bootstrap(State("m", None), "1", T0, "gate", "first")
    history = [first]
    night = T0
    for event, version, hours, by_person in events:
        night += timedelta(hours=24)
        at = night + timedelta(hours=hours) if by_person else night
        try:
            state, record = apply_event(state, event, str(version), at)
        except PromotionError:
            continue
        assert record.at >= history[-1].at  # never before the newest record
        history.append(record)
    assert [r.at for r in history] == sorted(r.at for r in history)
    for minutes in probes:
        moment = T0 + timedelta(minutes=minutes * 60)
        assert promotion.state_at(history, "m", moment).champion == brute_force_champion(
            history, moment
        )


def test_stepwise_climbs_then_promotes_with_previous_kept():
    state, record = promotion.start(State("m", "1"), "2", STEPS, T0, "t", "new")
    shares = [state.rollout.share]
    for _ in range(3):
        state, record = promotion.advance(state, STEPS, T0, "t", "ok")
        shares.append(state.rollout.share if state.rollout else 1.0)
    assert shares == [0.1, 0.25, 0.5, 1.0]
    assert (state.champion, state.previous, state.rollout, record.action) == (
        "2",
        "1",
        None,
        "promote",
    )


def test_replace_promotes_at_once_and_rollback_restores_previous():
    state, record = promotion.start(State("m", "1"), "2", [100], T0, "t", "new")
    assert (state.champion, state.previous, record.action) == ("2", "1", "replace")
    state, record = promotion.rollback(state, None, T0, "alice", "bad numbers")
    assert (state.champion, state.previous, record.by) == ("1", "2", "alice")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: promotion.rollback(State("m", "1"), None, T0, "t", ""), "no previous version"),
        (lambda s: promotion.rollback(s, "1", T0, "t", ""), "already the champion"),
        (lambda s: promotion.start(s, "1", STEPS, T0, "t", ""), "already the champion"),
        (lambda s: promotion.advance(s, STEPS, T0, "t", ""), "no rollout in progress"),
        (lambda s: promotion.start(State("m", None), "2", STEPS, T0, "t", ""), "no champion"),
    ],
)
def test_refused_transitions_say_why(call, message):
    with pytest.raises(PromotionError, match=message):
        call(State("m", "1", previous="0"))


def test_a_broken_invariant_is_caught():
    before = State("m", "1", previous="0")
    after = State("m", None, seq=1)
    record = promotion._record(before, after, "x", T0, "t", "")
    with pytest.raises(PromotionError, match="a champion was lost"):
        promotion.check_invariants(before, after, record)


def rolling(share: float = 0.1, step: int = 0, since: datetime = T0, paused: str = "") -> State:
    return State("m", "1", rollout=Rollout("2", "salt", step, share, since, paused), seq=3)


STEPWISE = PromotionSpec(strategy="stepwise", steps=STEPS, min_labelled_rows=100)


@pytest.mark.parametrize(
    ("state", "alias", "evidence", "action"),
    [
        (State("m", "1"), None, None, "idle"),
        (State("m", "1"), "2", None, "start"),
        (rolling(), "2", None, "hold"),  # no labelled rows yet
        (rolling(), "2", good(rows=50), "hold"),  # too few
        (rolling(), "2", good(), "advance"),
        (rolling(), "2", bad(), "abort"),
        (rolling(paused="NaN"), "2", good(), "hold"),
        (rolling(), "3", good(), "start"),  # a newer challenger supersedes
    ],
)
def test_stepwise_decisions(state, alias, evidence, action):
    assert decide(STEPWISE, state, alias, evidence, T0 + timedelta(days=1)).action == action


def test_inconclusive_evidence_holds():
    unsure = LiveComparison(1000, 1000, 0.5, 0.5, 0.0, -0.05, 0.05, 0.95)
    assert decide(STEPWISE, rolling(), "2", unsure, T0).action == "hold"


def test_soak_time_holds_until_it_has_passed():
    policy = STEPWISE.model_copy(update={"soak_hours": 24})
    assert decide(policy, rolling(), "2", good(), T0 + timedelta(hours=5)).action == "hold"
    assert decide(policy, rolling(), "2", good(), T0 + timedelta(hours=25)).action == "advance"


def test_window_and_freeze_dates_make_steps_wait_but_never_a_rollback():
    policy = PromotionSpec(
        strategy="stepwise",
        min_labelled_rows=100,
        window={"cron": "0 9 * * 1-5", "hours": 7, "timezone": "America/New_York"},
        freeze_dates=[date(2013, 1, 15)],
    )
    thursday_noon = datetime(2013, 1, 10, 17, tzinfo=UTC)  # 12:00 in New York
    thursday_night = datetime(2013, 1, 11, 2, tzinfo=UTC)
    frozen_tuesday = datetime(2013, 1, 15, 17, tzinfo=UTC)
    assert decide(policy, rolling(), "2", good(), thursday_noon).action == "advance"
    assert decide(policy, rolling(), "2", good(), thursday_night).action == "wait"
    assert decide(policy, rolling(), "2", good(), frozen_tuesday).action == "wait"
    assert decide(policy, State("m", "1"), "2", None, thursday_night).action == "wait"
    assert decide(policy, rolling(), "2", bad(), thursday_night).action == "abort"


def test_manual_steps_wait_for_approval():
    policy = PromotionSpec(strategy="stepwise", approval_steps=[100], min_labelled_rows=100)
    at_50 = rolling(share=0.5, step=2)
    assert decide(policy, at_50, "2", good(), T0).action == "await_approval"
    assert decide(policy, at_50, "2", good(), T0, approved=True).action == "advance"
    manual = PromotionSpec(strategy="manual")
    assert decide(manual, State("m", "1"), "2", None, T0).action == "await_approval"
    assert decide(manual, State("m", "1"), "2", None, T0, approved=True).action == "start"


def test_compare_cohorts_tells_worse_from_better():
    rng = np.random.default_rng(0)
    champion = rng.normal(0.5, 0.1, 2000)
    worse = compare_cohorts(champion, rng.normal(0.6, 0.1, 2000), 0.95)
    same = compare_cohorts(champion, rng.normal(0.5, 0.1, 2000), 0.95)
    assert worse.ci_low > 0
    assert same.ci_low < 0 < same.ci_high


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strategy": "replace", "steps": [50, 100]}, "steps only apply to strategy 'stepwise'"),
        ({"strategy": "stepwise", "steps": [50, 25, 100]}, "must increase and end at 100"),
        ({"strategy": "stepwise", "steps": [10, 50]}, "must increase and end at 100"),
        ({"strategy": "scheduled"}, "needs a window"),
        ({"strategy": "stepwise", "approval_steps": [30]}, "[30] are not among the steps"),
    ],
)
def test_bad_promotion_specs_are_refused(fields, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PromotionSpec(**fields)


def test_evidence_is_json_safe_even_without_rows():
    import json

    empty = compare_cohorts(np.array([]), np.array([1.0]), 0.95)
    assert json.loads(json.dumps(empty.to_dict(), allow_nan=False))["ci_low"] is None
    decision = decide(STEPWISE, rolling(), "2", empty, T0)
    assert decision.action == "hold"
    json.dumps(decision.metrics, allow_nan=False)
