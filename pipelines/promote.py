"""One promotion run, one rollback, one scoring run: the state machine wired to lake and MLflow.

Times are the run's logical time (``now``), so a replay of 2013 keeps a 2013 history; each
record also carries the wall-clock time it was written.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from pipelines import promotion, rollout
from pipelines.dataset import labels_dataset
from pipelines.errors import ConcurrentPromotionError, PromotionError
from pipelines.promotion import LiveComparison, State
from pipelines.registry import CHALLENGER, TAG, alias_version
from pipelines.score import PREDICTIONS, ScoreResult, score_day
from pipelines.spec import ModelSpec
from pipelines.storage import Lake


def end_of_day(day: date, timezone: str) -> datetime:
    """The moment a partition day is over (midnight after it, in the model's timezone)."""
    return datetime.combine(day + timedelta(days=1), time.min, ZoneInfo(timezone))


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def row_losses(task: str, label: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Per-row loss: log loss for binary labels, squared error for regression."""
    if task == "binary":
        p = np.clip(prediction, 1e-7, 1 - 1e-7)
        return -(label * np.log(p) + (1 - label) * np.log(1 - p))
    return (prediction - label) ** 2


def live_comparison(
    lake: Lake, spec: ModelSpec, state: State, now: datetime
) -> LiveComparison | None:
    """Champion vs challenger loss on the labelled rows scored at the rollout's current step."""
    current = state.rollout
    if current is None:
        return None
    first = current.since.date()
    last = now.date() - timedelta(days=spec.label.arrival_delay_days)
    losses: dict[str, list[np.ndarray]] = {state.champion or "": [], current.version: []}
    day = first
    while day <= last:
        scored = lake.partition_path(PREDICTIONS, spec.name, day)
        labelled = lake.partition_path("raw", labels_dataset(spec), day)
        day += timedelta(days=1)
        if not (lake.fs.exists(scored) and lake.fs.exists(labelled)):
            continue
        predictions = lake.read_frame(scored)
        predictions = predictions[predictions["rollout_salt"] == current.salt]
        labels = lake.read_frame(labelled, [spec.entity_key, spec.label.name])
        joined = predictions.merge(labels.dropna(), on=spec.entity_key, how="inner")
        for version, rows in joined.groupby("model_version"):
            if version in losses:
                label = rows[spec.label.name].to_numpy(dtype="float64")
                loss = row_losses(spec.label.task, label, rows["prediction"].to_numpy())
                losses[str(version)].append(loss)
    champion, challenger = (
        np.concatenate(losses[v]) if losses[v] else np.array([])
        for v in (state.champion or "", current.version)
    )
    return promotion.compare_cohorts(champion, challenger, spec.promotion.confidence)


def promotion_run(
    lake: Lake,
    spec: ModelSpec,
    tracking_uri: str,
    now: datetime,
    by: str,
    approved: bool = False,
    expected_seq: int | None = None,
) -> dict[str, Any]:
    """Decide and, unless a person must approve first, apply one step; returns the decision."""
    client = _client(tracking_uri)
    rollout.reconcile(lake, client, spec.name)
    state = rollout.current_state(lake, client, spec.name, by)
    if expected_seq is not None and state.seq != expected_seq:
        raise ConcurrentPromotionError(
            f"{spec.name}: the state changed while waiting for approval (history "
            f"{expected_seq} -> {state.seq}); nothing was applied, the next run decides again"
        )
    candidate = alias_version(client, spec.name, CHALLENGER)
    candidate_version = str(candidate.version) if candidate is not None else None
    if candidate is not None and candidate.tags.get(f"{TAG}rollout.ended"):
        candidate_version = None  # a challenger alias left on a version already ruled out
    evidence = live_comparison(lake, spec, state, now)
    decision = promotion.decide(spec.promotion, state, candidate_version, evidence, now, approved)
    applied = promotion.apply(spec.promotion, state, decision, now, by)
    result = {**asdict(decision), "seq": state.seq, "applied": applied is not None}
    if applied is not None:
        after, record = applied
        rollout.commit(lake, client, state, record)
        result.update(seq=after.seq, action=record.action, champion=after.champion)
    else:
        result["champion"] = state.champion
    if decision.version:
        why = f"{decision.action}: {decision.why}"[:5000]
        client.set_model_version_tag(spec.name, decision.version, f"{TAG}rollout.last", why)
    return result


MANUAL_ACTIONS = ("advance", "abort")


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
    client = _client(tracking_uri)
    rollout.reconcile(lake, client, spec.name)
    state = rollout.current_state(lake, client, spec.name, by)
    steps, why = spec.promotion.percent_steps, f"by hand: {why.strip()}"
    if action == "abort":
        after, record = promotion.abort(state, now, by, why)
    elif state.rollout is not None:
        after, record = promotion.advance(state, steps, now, by, why)
    else:
        candidate = alias_version(client, spec.name, CHALLENGER)
        if candidate is None or candidate.tags.get(f"{TAG}rollout.ended"):
            raise PromotionError(f"{spec.name}: no rollout in progress and no challenger waiting")
        after, record = promotion.start(state, str(candidate.version), steps, now, by, why)
    rollout.commit(lake, client, state, record)
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
    client = _client(tracking_uri)
    if target:
        rollout.require_version(client, spec.name, target)
    rollout.reconcile(lake, client, spec.name)
    state = rollout.current_state(lake, client, spec.name, by)
    after, record = promotion.rollback(state, target, now, by, why)
    rollout.commit(lake, client, state, record)
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
    only reports the fallback in its result.
    """
    client = _client(tracking_uri)
    rollout.reconcile(lake, client, spec.name)
    latest = rollout.current_state(lake, client, spec.name, by)  # starts an empty history
    state = promotion.state_at(rollout.read_history(lake, spec.name), spec.name, moment)
    current = state.seq == latest.seq
    result = score_day(lake, spec, day, tracking_uri, state, version)
    if result.fallback and current and state.rollout and not state.rollout.paused:
        _, record = promotion.pause(state, moment, by, result.fallback)
        # A promotion run that moved first sees the fallback on the next scoring run.
        with contextlib.suppress(ConcurrentPromotionError):
            rollout.commit(lake, client, state, record)
    return result
