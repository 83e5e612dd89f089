"""The promotion state machine: what serves, every transition, and the history it writes.

Pure: no MLflow, no lake, no clock. ``pipelines/serving/history.py`` reads the state from the
history, ``policy.py`` decides, a transition here computes the new state plus one history
``Record``, and the history writes it with a compare-and-set.

State: the ``champion`` and ``previous`` versions and, during a rollout, the challenger's
version, its step (index into the spec's steps), traffic share, salt for the hash split,
and since when it has been at that step. Every transition returns the new state plus one
history ``Record``; ``check_invariants`` holds for each (tests drive it with hypothesis).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from pipelines.core.errors import PromotionError

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
    last_at: datetime | None = None  # the newest record's time: no later record is earlier

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


def _record(
    before: State, after: State, action: str, at: datetime, by: str, why: str, **kw: Any
) -> Record:
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


def no_earlier(state: State, at: datetime) -> datetime:
    """``at``, or the newest record's time when that is later: history times never decrease,
    so ``state_at`` can stop at the first record after the moment it is asked about."""
    return max(at, state.last_at) if state.last_at is not None else at


def _commit(
    before: State, after: State, action: str, at: datetime, by: str, why: str, **kw: Any
) -> tuple[State, Record]:
    after = replace(after, seq=before.seq + 1, last_at=at)
    record = _record(before, after, action, at, by, why, **kw)
    check_invariants(before, after, record)
    return after, record


def start(
    state: State, version: str, steps: list[int], at: datetime, by: str, why: str
) -> tuple[State, Record]:
    """Begin serving ``version`` at the first step (at 100% that is a promotion at once)."""
    at = no_earlier(state, at)
    if state.champion is None:
        raise PromotionError(f"{state.model}: no champion to roll out against")
    if version == state.champion:
        raise PromotionError(f"{state.model}: v{version} is already the champion")
    rollout = Rollout(version, f"{state.model}-v{version}-{at:%Y%m%dT%H%M%S}", 0, 0.0, at)
    staged = replace(state, rollout=rollout)
    return _step_to(state, staged, 0, steps, at, by, why, "start")


def advance(
    state: State,
    steps: list[int],
    at: datetime,
    by: str,
    why: str,
    metrics: dict[str, Any] | None = None,
) -> tuple[State, Record]:
    """One step up; the last step makes the challenger champion and the old one ``previous``."""
    at = no_earlier(state, at)
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
    metrics: dict[str, Any] | None = None,
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
    state: State, at: datetime, by: str, why: str, metrics: dict[str, Any] | None = None
) -> tuple[State, Record]:
    """Take the challenger out of service (share 0, no alias); the champion stays."""
    at = no_earlier(state, at)
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
    at = no_earlier(state, at)
    rollout = _active(state)
    after = replace(state, rollout=replace(rollout, share=0.0, paused=why))
    return _commit(state, after, "pause", at, by, why, from_version=rollout.version)


def rollback(
    state: State, target: str | None, at: datetime, by: str, why: str
) -> tuple[State, Record]:
    """Make ``target`` (default: ``previous``) champion again; any rollout is cancelled."""
    at = no_earlier(state, at)
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
    at = no_earlier(state, at)
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
    if before.last_at is not None and record.at < before.last_at:
        problems.append(f"time {record.at} is before the newest record's {before.last_at}")
    if after.champion != before.champion:
        if after.previous != before.champion:
            problems.append("previous must be the replaced champion")
    elif after.previous != before.previous:
        problems.append("previous changed without a new champion")
    if problems:
        raise PromotionError(f"{before.model}: {'; '.join(problems)}")


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
    return State(record.model, record.champion, record.previous, rollout, record.seq, record.at)
