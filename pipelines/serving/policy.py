"""What a promotion run should do now, by the spec's strategy: start, advance, hold, wait,
ask for approval or abort, from the state, the waiting challenger, the live evidence and the
time. Pure, so every branch is unit-tested; ``apply`` turns a decision into a transition."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from statistics import NormalDist
from typing import Any

import numpy as np

from pipelines.core.calendar import local_time
from pipelines.core.jsonsafe import json_safe
from pipelines.core.spec import PromotionSpec, PromotionWindow
from pipelines.serving.state import Action, Record, State, abort, advance, start


@dataclass(frozen=True)
class Decision:
    action: Action
    why: str
    version: str | None = None  # the challenger concerned
    metrics: dict[str, Any] = field(default_factory=dict)


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
        return dict(json_safe(asdict(self)))


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
    local = local_time(now, window.timezone if window else "UTC")
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
