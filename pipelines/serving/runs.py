"""One promotion run, one rollback, one scoring run: the state machine wired to lake and MLflow.

Times are the run's logical time (``now``), so a replay of 2013 keeps a 2013 history; each
record also carries the wall-clock time it was written, and record times never decrease. A
nightly promotion decides once per partition day, in the order the days come; a run for a
day behind the model's frontier decides nothing (backfills never move the present). Each
run builds one ``Registry``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipelines.core.calendar import day_end, day_ending_at, days_between
from pipelines.core.errors import ConcurrentPromotionError, PromotionError
from pipelines.core.layout import (
    CATCH_UP,
    CHALLENGER,
    CHAMPION,
    FEATURES,
    PREDICTIONS,
    Tags,
    rollout_started,
)
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.serving import history, policy, state
from pipelines.serving.evidence import live_comparison
from pipelines.serving.scoring import ScoreResult, score_day
from pipelines.serving.state import State

log = logging.getLogger(__name__)
MANUAL_ACTIONS = ("advance", "abort")
BEHIND = "behind_frontier"  # the action of a promotion run for a day behind the frontier
NO_CHAMPION = "no_champion"  # ... for a day no champion served (scored late, if at all)
UNDECIDED = (BEHIND, NO_CHAMPION)  # such runs decide nothing and record nothing


def _current(lake: Lake, registry: Registry, spec: ModelSpec, by: str) -> state.State:
    """The current state, with the registry brought in line with the history first."""
    history.reconcile(lake, registry, spec.name)
    return history.current_state(lake, registry, spec.name, by, spec.schedules.timezone)


def _waiting_challenger(registry: Registry, model: str) -> str | None:
    """The version the ``challenger`` alias names, unless its rollout already ended; else the
    newest version that passed the gate while another was rolling out (training tags it
    ``challenger`` without the alias), if it is newer than every version rolled out or
    crowned since: it waited for that rollout to end."""
    candidate = registry.alias_version(model, CHALLENGER)
    if candidate is not None and not (candidate.tags or {}).get(Tags.ROLLOUT_ENDED):
        return str(candidate.version)
    champion = registry.alias_version(model, CHAMPION)
    versions = registry.versions(model)
    served = [int(v.version) for v in versions if rollout_started(v.tags or {})]
    floor = max([*served, int(champion.version) if champion else 0])
    waiting = [
        int(v.version)
        for v in versions
        if (v.tags or {}).get(Tags.DECISION) == CHALLENGER
        and not rollout_started(v.tags or {})
        and int(v.version) > floor
    ]
    return str(max(waiting)) if waiting else None


def promotion_run(
    lake: Lake,
    spec: ModelSpec,
    tracking_uri: str,
    now: datetime,
    by: str,
    approved: bool = False,
    expected_seq: int | None = None,
    day: date | None = None,
) -> dict[str, Any]:
    """Decide and, unless a person must approve first, apply one step at ``now`` for the
    partition ``day`` (default: the day ending at ``now``); returns the decision (a repeated
    night returns the one it made). Days behind the frontier, and days no champion served,
    decide nothing."""
    tz = spec.schedules.timezone
    day = day or day_ending_at(now, tz)
    if day_end(day, tz) > datetime.now(UTC):
        raise PromotionError(f"{spec.name}: {day} is not over yet; a decision needs a whole day")
    newest = history.frontier(lake, spec.name)
    if newest is not None and day < newest:
        why = f"{day} is behind the frontier {newest}: a backfill starts no promotion decision"
        return _undecided(BEHIND, why, day)
    done = history.decision_on(lake, spec.name, day)
    if done is not None and not approved:
        return {**done, "applied": False, "repeated": True}
    registry = Registry(tracking_uri)
    before = _current(lake, registry, spec, by)
    served = state.state_at(history.read_history(lake, spec.name), spec.name, day_end(day, tz))
    if served.champion is None:
        return _undecided(NO_CHAMPION, f"no champion served on {day}: nothing to decide", day)
    if expected_seq is not None and before.seq != expected_seq:
        raise ConcurrentPromotionError(
            f"{spec.name}: the state changed while waiting for approval (history "
            f"{expected_seq} -> {before.seq}); nothing was applied, the next run decides again"
        )
    evidence = live_comparison(lake, spec, before, now)
    challenger = _waiting_challenger(registry, spec.name)
    decision = policy.decide(spec.promotion, before, challenger, evidence, now, approved)
    applied = policy.apply(spec.promotion, before, decision, now, by)
    result = {**asdict(decision), "seq": before.seq, "applied": applied is not None}
    if applied is not None:
        after, record = applied
        history.commit(lake, registry, before, record)
        result.update(seq=after.seq, action=record.action, champion=after.champion)
    else:
        result["champion"] = before.champion
    if decision.version:
        why = f"{decision.action}: {decision.why}"[:5000]
        registry.set_tags(spec.name, decision.version, {Tags.ROLLOUT_LAST: why})
    history.save_decision(lake, spec.name, day, {**result, "at": now.isoformat()})
    return result


def _undecided(action: str, why: str, day: date) -> dict[str, Any]:
    return {"action": action, "why": why, "applied": False, "day": day.isoformat()}


def manual_run(
    lake: Lake,
    spec: ModelSpec,
    tracking_uri: str,
    action: str,
    why: str,
    now: datetime,
    by: str,
) -> dict[str, Any]:
    """A person moves the rollout: ``advance`` one step now (or start it for the waiting
    challenger), or ``abort`` it; recorded like any transition. Errors change nothing."""
    if action not in MANUAL_ACTIONS:
        raise PromotionError(f"{spec.name}: action {action!r}; choose one of {MANUAL_ACTIONS}")
    if len(why.strip()) < 3:
        raise PromotionError(f"{spec.name}: {action} by hand needs a reason (it is recorded)")
    registry = Registry(tracking_uri)
    before = _current(lake, registry, spec, by)
    now = history.people_time(lake, spec.name, now, spec.schedules.timezone)
    steps, why = spec.promotion.percent_steps, f"by hand: {why.strip()}"
    if action == "abort":
        after, record = state.abort(before, now, by, why)
    elif before.rollout is not None:
        after, record = state.advance(before, steps, now, by, why)
    else:
        candidate = _waiting_challenger(registry, spec.name)
        if candidate is None:
            raise PromotionError(f"{spec.name}: no rollout in progress and no challenger waiting")
        after, record = state.start(before, candidate, steps, now, by, why)
    history.commit(lake, registry, before, record)
    return {
        "model": spec.name,
        "action": record.action,
        "champion": after.champion,
        "version": record.challenger or record.to_version or record.from_version,
        "share": record.share,
        "seq": after.seq,
    }


def rollback_run(
    lake: Lake,
    spec: ModelSpec,
    tracking_uri: str,
    target: str | None,
    why: str,
    now: datetime,
    by: str,
) -> dict[str, Any]:
    """Make ``target`` (default ``previous``) champion again, recorded; errors change nothing."""
    registry = Registry(tracking_uri)
    if target:
        history.require_version(registry, spec.name, target)
    before = _current(lake, registry, spec, by)
    now = history.people_time(lake, spec.name, now, spec.schedules.timezone)
    after, record = state.rollback(before, target, now, by, why)
    history.commit(lake, registry, before, record)
    return {
        "model": spec.name,
        "champion": after.champion,
        "previous": after.previous,
        "seq": after.seq,
        "from_version": record.from_version,
    }


def scoring_run(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    tracking_uri: str,
    moment: datetime,
    by: str,
    version: str | None = None,
) -> ScoreResult:
    """Score ``day`` with the versions serving at ``moment`` (from the history).

    The nightly run sees the latest state; a backfill of a past date sees that date's. When
    the latest state's challenger fails, its rollout is paused in the registry; a backfill
    only reports the fallback in its result. Days that had no champion to score them (before
    the first one) are caught up with the current champion, see ``_catch_up``.
    """
    registry = Registry(tracking_uri)
    latest = _current(lake, registry, spec, by)  # starts an empty history
    records = history.read_history(lake, spec.name)
    served = state.state_at(records, spec.name, moment)
    window = _catch_up_window(spec, records) if version is None else None
    if window is not None and served.champion is None and window[0] <= day <= window[1]:
        now = State(spec.name, champion=latest.champion)
        result = score_day(lake, spec, day, registry, now, served_as=CATCH_UP)
    else:
        result = score_day(lake, spec, day, registry, served, version)
        current = served.seq == latest.seq
        if result.fallback and current and served.rollout and not served.rollout.paused:
            _, record = state.pause(served, moment, by, result.fallback)
            # A promotion run that moved first sees the fallback on the next scoring run.
            with contextlib.suppress(ConcurrentPromotionError):
                history.commit(lake, registry, served, record)
    if window is None or latest.champion is None:
        return result
    return _catch_up(lake, spec, result, registry, records, window, latest.champion)


def _catch_up_window(spec: ModelSpec, records: list[state.Record]) -> tuple[date, date] | None:
    """The days a late champion may score: from ``scoring.catch_up_days`` before the day the
    first champion was set, to that day (None: no champion yet, or catching up is off)."""
    if not records or spec.scoring.catch_up_days == 0:
        return None
    first = day_ending_at(records[0].at, spec.schedules.timezone)
    return first - timedelta(days=spec.scoring.catch_up_days), first


def _catch_up(
    lake: Lake,
    spec: ModelSpec,
    result: ScoreResult,
    registry: Registry,
    records: list[state.Record],
    window: tuple[date, date],
    champion: str,
) -> ScoreResult:
    """Score the days of ``window`` before ``result.day`` that have features but no
    predictions because no champion served at their end (their scoring ran before the first
    one existed) with ``champion``, labelled ``catch_up``. Best effort: a day that fails is
    logged and left, and never fails the day being scored."""
    tz = spec.schedules.timezone
    last = min(window[1], result.day - timedelta(days=1))
    earlier = [
        past
        for past in days_between(window[0], last)
        if lake.exists(FEATURES, spec.name, past)
        and not lake.exists(PREDICTIONS, spec.name, past)
        and state.state_at(records, spec.name, day_end(past, tz)).champion is None
    ]
    first, done = State(spec.name, champion=champion), []
    for past in earlier:
        try:
            score_day(lake, spec, past, registry, first, served_as=CATCH_UP)
        except Exception:  # an old day that cannot be scored must not stop today's
            log.exception("%s: catching up %s failed; it stays unscored", spec.name, past)
            continue
        done.append(past.isoformat())
    return replace(result, caught_up=done)
