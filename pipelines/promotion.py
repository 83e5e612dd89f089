"""Promotion as a pure state machine: registry state in, one decision and one transition out.

No MLflow, no lake, no clock: ``pipelines/rollout.py`` reads the state from the registry and
the history, calls ``decide`` and a transition, and writes the result with a compare-and-set.

State: the ``champion`` and ``previous`` versions and, during a rollout, the challenger's
version, its step (index into the spec's steps), traffic share, salt for the hash split,
and since when it has been at that step. Every transition returns the new state plus one
history ``Record``; ``check_invariants`` holds for each (tests drive it with hypothesis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from statistics import NormalDist
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from pipelines.errors import PromotionError
from pipelines.spec import PromotionSpec, PromotionWindow

Action = Literal[
    "idle", "start", "advance", "hold", "wait", "await_approval", "abort", "pause", "rollback"
]
# Actions that change the state (the others are recorded as decisions only).
TRANSITIONS = frozenset({"start", "advance", "abort", "pause", "rollback"})


@dataclass(frozen=True)
class Rollout:
    """A challenger being served to part of the traffic."""

    version: str
    salt: str  # salts the entity hash: a new rollout reshuffles who sees the challenger
    step: int  # index into the spec's steps
    share: float  # of scored rows; 0 while paused
    since: datetime  # when the current step began
    paused: str = ""  # why, when scoring took the challenger out of service


@dataclass(frozen=True)
class State:
    """What the registry says about one model, and how many history records it has."""

    model: str
    champion: str | None
    previous: str | None = None
    rollout: Rollout | None = None
    seq: int = 0  # the number of history records: the compare-and-set token

    def share_of(self, version: str) -> float:
        if self.rollout is None:
            return 1.0 if version == self.champion else 0.0
        if version == self.rollout.version:
            return self.rollout.share
        return 1.0 - self.rollout.share if version == self.champion else 0.0


@dataclass(frozen=True)
class Record:
    """One append-only history entry: who or what did what, when, why, with which evidence."""

    seq: int
    model: str
    action: str
    at: datetime
    by: str
    why: str
    champion: str | None  # after the action
    previous: str | None
    challenger: str | None
    share: float  # challenger share after the action
    salt: str
    step: int = -1
    since: datetime | None = None  # when the challenger's current step began
    paused: str = ""
    released: str | None = None  # the version whose challenger alias this action removes
    from_version: str | None = None
    to_version: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = ""  # wall-clock time of the write; ``at`` is the run's logical time

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["at"] = self.at.isoformat()
        out["since"] = self.since.isoformat() if self.since else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        since = datetime.fromisoformat(data["since"]) if data.get("since") else None
        return cls(**{**data, "at": datetime.fromisoformat(data["at"]), "since": since})


@dataclass(frozen=True)
class Decision:
    action: Action
    why: str
    version: str | None = None  # the challenger concerned
    metrics: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------- transitions
def _record(before: State, after: State, action: str, at: datetime, by: str, why: str, **kw: Any):
    rollout = after.rollout
    return Record(
        seq=before.seq + 1,
        model=before.model,
        action=action,
        at=at,
        by=by,
        why=why,
        champion=after.champion,
        previous=after.previous,
        challenger=rollout.version if rollout else None,
        share=rollout.share if rollout else 0.0,
        salt=rollout.salt if rollout else "",
        step=rollout.step if rollout else -1,
        since=rollout.since if rollout else None,
        paused=rollout.paused if rollout else "",
        **kw,
    )


def _commit(
    before: State, after: State, action: str, at: datetime, by: str, why: str, **kw: Any
) -> tuple[State, Record]:
    after = replace(after, seq=before.seq + 1)
    record = _record(before, after, action, at, by, why, **kw)
    check_invariants(before, after, record)
    return after, record


def start(
    state: State, version: str, steps: list[int], at: datetime, by: str, why: str
) -> tuple[State, Record]:
    """Begin serving ``version`` at the first step (at 100% that is a promotion at once)."""
    if state.champion is None:
        raise PromotionError(f"{state.model}: no champion to roll out against")
    if version == state.champion:
        raise PromotionError(f"{state.model}: v{version} is already the champion")
    rollout = Rollout(version, f"{state.model}-v{version}-{at:%Y%m%dT%H%M%S}", 0, 0.0, at)
    staged = replace(state, rollout=rollout)
    return _step_to(state, staged, 0, steps, at, by, why, "start")


def advance(
    state: State, steps: list[int], at: datetime, by: str, why: str, metrics: dict | None = None
) -> tuple[State, Record]:
    """One step up; the last step makes the challenger champion and the old one ``previous``."""
    rollout = _active(state)
    return _step_to(state, state, rollout.step + 1, steps, at, by, why, "advance", metrics)


def _step_to(
    before: State,
    staged: State,
    step: int,
    steps: list[int],
    at: datetime,
    by: str,
    why: str,
    action: str,
    metrics: dict | None = None,
) -> tuple[State, Record]:
    rollout = _active(staged)
    if step >= len(steps):
        raise PromotionError(f"{before.model}: no step after {steps[-1]}%")
    share = steps[step] / 100
    if share < 1.0:
        after = replace(staged, rollout=replace(rollout, step=step, share=share, since=at))
        return _commit(before, after, action, at, by, why, metrics=metrics or {})
    promoted = replace(staged, champion=rollout.version, previous=before.champion, rollout=None)
    return _commit(
        before,
        promoted,
        "promote" if action == "advance" else "replace",
        at,
        by,
        why,
        from_version=before.champion,
        to_version=rollout.version,
        released=rollout.version,
        metrics=metrics or {},
    )


def abort(
    state: State, at: datetime, by: str, why: str, metrics: dict | None = None
) -> tuple[State, Record]:
    """Take the challenger out of service (share 0, no alias); the champion stays."""
    rollout = _active(state, allow_paused=True)
    after = replace(state, rollout=None)
    version = rollout.version
    return _commit(
        state,
        after,
        "abort",
        at,
        by,
        why,
        from_version=version,
        released=version,
        metrics=metrics or {},
    )


def pause(state: State, at: datetime, by: str, why: str) -> tuple[State, Record]:
    """Serve the champion to every row until a person or a new challenger decides."""
    rollout = _active(state)
    after = replace(state, rollout=replace(rollout, share=0.0, paused=why))
    return _commit(state, after, "pause", at, by, why, from_version=rollout.version)


def rollback(
    state: State, target: str | None, at: datetime, by: str, why: str
) -> tuple[State, Record]:
    """Make ``target`` (default: ``previous``) champion again; any rollout is cancelled."""
    target = target or state.previous
    if target is None:
        raise PromotionError(f"{state.model}: no previous version to roll back to")
    if target == state.champion:
        raise PromotionError(f"{state.model}: v{target} is already the champion")
    after = State(state.model, champion=target, previous=state.champion, rollout=None)
    cancelled = state.rollout.version if state.rollout else None
    return _commit(
        state,
        after,
        "rollback",
        at,
        by,
        why,
        from_version=state.champion,
        to_version=target,
        released=cancelled,
    )


def bootstrap(state: State, champion: str, at: datetime, by: str, why: str) -> tuple[State, Record]:
    """The first history record: the champion the training gate crowned before any rollout."""
    if state.seq or state.champion is not None:
        raise PromotionError(f"{state.model}: the history has already begun")
    after = State(state.model, champion=champion)
    return _commit(state, after, "bootstrap", at, by, why, to_version=champion)


def _active(state: State, allow_paused: bool = False) -> Rollout:
    rollout = state.rollout
    if rollout is None:
        raise PromotionError(f"{state.model}: no rollout in progress")
    if rollout.paused and not allow_paused:
        raise PromotionError(f"{state.model}: the rollout of v{rollout.version} is paused")
    return rollout


def check_invariants(before: State, after: State, record: Record) -> None:
    """What every transition must keep true; raises ``PromotionError`` naming the breach."""
    problems = []
    if after.seq != before.seq + 1 or record.seq != after.seq:
        problems.append("history must grow by exactly one record")
    if before.champion is not None and after.champion is None:
        problems.append("a champion was lost")
    rollout = after.rollout
    if rollout is not None:
        if not 0.0 <= rollout.share <= 1.0 or (rollout.share == 1.0):
            problems.append(f"share {rollout.share} outside [0, 1)")
        if rollout.version == after.champion:
            problems.append("the challenger is the champion")
        if after.champion is None:
            problems.append("a rollout without a champion")
    if after.champion != before.champion:
        if after.previous != before.champion:
            problems.append("previous must be the replaced champion")
    elif after.previous != before.previous:
        problems.append("previous changed without a new champion")
    if problems:
        raise PromotionError(f"{before.model}: {'; '.join(problems)}")


# ------------------------------------------------------------------------------ decisions
@dataclass(frozen=True)
class LiveComparison:
    """Per-row loss of each cohort on labelled rows (lower is better)."""

    champion_rows: int
    challenger_rows: int
    champion_loss: float
    challenger_loss: float
    diff: float  # challenger - champion
    ci_low: float
    ci_high: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: an undefined number (too few rows) is None, not NaN or infinity."""
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {k: v if math.isfinite(v) else None for k, v in values.items()}


def compare_cohorts(
    champion_losses: np.ndarray, challenger_losses: np.ndarray, confidence: float
) -> LiveComparison:
    """Welch interval of the difference of mean per-row loss between the two cohorts.

    Each model is judged on its own rows (the hash split makes the cohorts comparable), so
    the samples are independent; the interval is two-sided at ``confidence``.
    """
    a = np.asarray(champion_losses, dtype="float64")
    b = np.asarray(challenger_losses, dtype="float64")
    if len(a) < 2 or len(b) < 2:
        diff, low, high = math.nan, -math.inf, math.inf
    else:
        diff = float(b.mean() - a.mean())
        se = math.sqrt(b.var(ddof=1) / len(b) + a.var(ddof=1) / len(a))
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        low, high = diff - z * se, diff + z * se
    return LiveComparison(
        len(a),
        len(b),
        float(a.mean()) if len(a) else math.nan,
        float(b.mean()) if len(b) else math.nan,
        diff,
        low,
        high,
        confidence,
    )


def window_open(window: PromotionWindow | None, freeze: list[date], now: datetime) -> str:
    """'' when steps may happen at ``now``, else why not."""
    tz = ZoneInfo(window.timezone if window else "UTC")
    local = now.astimezone(tz)
    if local.date() in freeze:
        return f"{local.date()} is a freeze date"
    if window is None:
        return ""
    from croniter import croniter

    opened = croniter(window.cron, local).get_prev(datetime)
    if local < opened + timedelta(hours=window.hours):
        return ""
    return f"outside the window ({window.cron} for {window.hours:g}h, {window.timezone})"


def decide(
    policy: PromotionSpec,
    state: State,
    challenger_alias: str | None,
    evidence: LiveComparison | None,
    now: datetime,
    approved: bool = False,
) -> Decision:
    """What the promotion run should do now; pure, so every branch is unit-testable."""
    steps = policy.percent_steps
    rollout = state.rollout
    closed = window_open(policy.window, policy.freeze_dates, now)
    new = challenger_alias not in (None, state.champion) and (
        rollout is None or rollout.version != challenger_alias
    )
    if new:
        if closed:
            return Decision("wait", f"v{challenger_alias} waits: {closed}", challenger_alias)
        if steps[0] in policy.approvals and not approved:
            return Decision("await_approval", f"{steps[0]}% needs approval", challenger_alias)
        superseded = f" (supersedes v{rollout.version})" if rollout else ""
        return Decision(
            "start", f"new challenger v{challenger_alias}{superseded}", challenger_alias
        )
    if rollout is None:
        return Decision("idle", "no challenger")
    version = rollout.version
    if rollout.paused:
        return Decision("hold", f"v{version} is paused: {rollout.paused}", version)
    metrics = evidence.to_dict() if evidence else {}
    if evidence is None or min(evidence.champion_rows, evidence.challenger_rows) < (
        policy.min_labelled_rows
    ):
        rows = (evidence.champion_rows, evidence.challenger_rows) if evidence else (0, 0)
        why = f"labelled rows (champion, challenger) {rows} < {policy.min_labelled_rows}"
        return Decision("hold", why, version, metrics)
    if evidence.ci_low > policy.max_regression:  # worse, with confidence: out at once
        why = (
            f"v{version} loss {evidence.challenger_loss:.4f} vs {evidence.champion_loss:.4f}: "
            f"worse by [{evidence.ci_low:+.4f}, {evidence.ci_high:+.4f}]"
        )
        return Decision("abort", why, version, metrics)
    soaked = now - rollout.since
    if soaked < timedelta(hours=policy.soak_hours):
        return Decision(
            "hold", f"soaking: {soaked} of {policy.soak_hours:g}h at this step", version
        )
    if evidence.ci_high > policy.max_regression:
        why = f"not yet shown non-inferior: [{evidence.ci_low:+.4f}, {evidence.ci_high:+.4f}]"
        return Decision("hold", why, version, metrics)
    if closed:
        return Decision("wait", f"v{version} waits: {closed}", version, metrics)
    next_share = steps[rollout.step + 1]
    if next_share in policy.approvals and not approved:
        return Decision("await_approval", f"{next_share}% needs approval", version, metrics)
    why = f"non-inferior: [{evidence.ci_low:+.4f}, {evidence.ci_high:+.4f}] -> {next_share}%"
    return Decision("advance", why, version, metrics)


def apply(
    policy: PromotionSpec, state: State, decision: Decision, at: datetime, by: str
) -> tuple[State, Record] | None:
    """The transition a decision asks for (None for decisions that change nothing)."""
    steps = policy.percent_steps
    if decision.action == "start" and decision.version is not None:
        return start(state, decision.version, steps, at, by, decision.why)
    if decision.action == "advance":
        return advance(state, steps, at, by, decision.why, decision.metrics)
    if decision.action == "abort":
        return abort(state, at, by, decision.why, decision.metrics)
    return None


def state_at(records: list[Record], model: str, moment: datetime) -> State:
    """The state in force at ``moment`` from the history (decisions made before it).

    Strictly before: the nightly scoring of day D and the promotion run after it share the
    time "end of D", and the scoring (or its backfill) must not see that run's decision.
    """
    state = State(model, champion=None)
    for record in records:
        if record.at >= moment:
            break
        state = state_after(record)
    return state


def state_after(record: Record) -> State:
    """The state a history record leaves behind."""
    rollout = None
    if record.challenger is not None:
        since = record.since or record.at
        rollout = Rollout(
            record.challenger, record.salt, record.step, record.share, since, record.paused
        )
    return State(record.model, record.champion, record.previous, rollout, record.seq)
