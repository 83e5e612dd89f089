"""Whether monitoring asks for a retrain: its triggers, held back by the spec's guardrails.

Guardrails (``retraining:``): a cooldown since the last trained version or retrain request,
a minimum of labelled rows newer than the last version's training window, and a cap on
requests per 7 days. Times are the monitored day's logical time, so a replay of 2013 judges
with 2013's history. Each decision is saved to ``monitoring/<model>/date=D/retrain.json``
whether or not it asks; the requests of earlier days are read back from there.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from pipelines.core import layout
from pipelines.core.layout import RAW, Tags, labels_dataset
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec, RetrainingSpec
from pipelines.core.storage import Lake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainFacts:
    """What the guardrails look at, gathered from the registry and the lake."""

    last_trained: date | None  # logical date of the newest registered version
    last_requested: date | None  # newest earlier day that requested a retrain
    requests_last_week: int  # requests in the 7 days before the monitored day
    new_labelled_rows: int  # labelled rows after the newest version's training window
    frontier: date | None = None  # the newest day with a promotion decision (None: none yet)


@dataclass(frozen=True)
class RetrainDecision:
    model: str
    day: date
    retrain: bool
    triggers: list[str]
    held_by: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    repeated: bool = False  # the day was decided before: this is that decision, not a new one

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainDecision:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "day": date.fromisoformat(known["day"])})

    @property
    def why(self) -> str:
        if self.retrain:
            return "retrain: " + "; ".join(self.triggers)
        if not self.triggers:
            return "no retrain: no trigger"
        return "no retrain (held: " + "; ".join(self.held_by) + "): " + "; ".join(self.triggers)


def decide(
    rules: RetrainingSpec, model: str, day: date, triggers: list[str], facts: RetrainFacts
) -> RetrainDecision:
    """Pure: a retrain when something triggers and no guardrail holds it back."""
    held = []
    if triggers and facts.frontier is not None and day < facts.frontier:
        held.append(f"{day} is behind the frontier {facts.frontier}: a past day asks no retrain")
    if triggers:
        since = [d for d in (facts.last_trained, facts.last_requested) if d is not None]
        if since:
            hours = (day - max(since)).days * 24
            if hours < rules.cooldown_hours:
                held.append(
                    f"cooldown: {hours} h since the last retrain on {max(since)} "
                    f"(< {rules.cooldown_hours:g} h)"
                )
        if facts.new_labelled_rows < rules.min_new_labelled_rows:
            held.append(
                f"only {facts.new_labelled_rows} new labelled rows since the last training "
                f"window (< {rules.min_new_labelled_rows})"
            )
        if facts.requests_last_week >= rules.max_per_week:
            held.append(
                f"{facts.requests_last_week} retrains requested in the last 7 days "
                f"(cap {rules.max_per_week})"
            )
    return RetrainDecision(
        model=model,
        day=day,
        retrain=bool(triggers) and not held,
        triggers=list(triggers),
        held_by=held,
        facts={k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(facts).items()},
    )


def gather_facts(
    lake: Lake, registry: Registry, spec: ModelSpec, day: date, frontier: date | None = None
) -> RetrainFacts:
    """Registry and lake facts as of ``day`` (versions and requests after it are ignored)."""
    trained = [
        (date.fromisoformat(v.tags[Tags.LOGICAL_DATE]), v.tags.get(Tags.TRAIN_DAYS, ""))
        for v in registry.versions(spec.name)
        if (v.tags or {}).get(Tags.LOGICAL_DATE)
    ]
    newest = max((t for t in trained if t[0] <= day), default=None)
    last_trained = newest[0] if newest else None
    window_end = _window_end(newest[1]) if newest else None
    requested = []
    for back in range(1, 8):
        earlier = day - timedelta(days=back)
        path = layout.retrain_decision(spec.name, earlier)
        if lake.exists_path(path) and lake.read_json(path).get("retrain"):
            requested.append(earlier)
    return RetrainFacts(
        last_trained=last_trained,
        last_requested=max(requested) if requested else None,
        requests_last_week=len(requested),
        new_labelled_rows=_labelled_rows_after(lake, spec, window_end, day),
        frontier=frontier,
    )


def _window_end(train_days: str) -> date | None:
    """The last day of a version's training window (its tag reads ``first..last``)."""
    _, _, last = train_days.partition("..")
    return date.fromisoformat(last) if last else None


def _labelled_rows_after(lake: Lake, spec: ModelSpec, after: date | None, day: date) -> int:
    """Labelled rows of the days in ``(after, day - delay]`` (all days without ``after``)."""
    last = day - timedelta(days=spec.label.arrival_delay_days)
    dataset = labels_dataset(spec.source.dataset)
    total = 0
    for labelled in lake.list_dates(RAW, dataset):
        if (after is None or labelled > after) and labelled <= last:
            path = lake.partition_path(RAW, dataset, labelled)
            label = lake.read_table(path, [spec.label.name]).column(0)
            total += len(label) - label.null_count
    return total


def retrain_decision(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    registry: Registry,
    triggers: list[str],
    frontier: date | None = None,
) -> RetrainDecision:
    """Decide for the monitored day, save the decision, and log it. A day is decided once: a
    second run for it (a re-delivery of the day, a cleared task) returns the first decision,
    so a request is neither repeated nor overwritten by a later "held"."""
    path = layout.retrain_decision(spec.name, day)
    if lake.exists_path(path):
        stored = RetrainDecision.from_dict(lake.read_json(path))
        log.info("%s %s: decided before: %s", spec.name, day, stored.why)
        return replace(stored, repeated=True)
    facts = gather_facts(lake, registry, spec, day, frontier)
    decision = decide(spec.retraining, spec.name, day, triggers, facts)
    lake.write_json(decision.to_dict(), path)
    log.info("%s %s: %s (facts: %s)", spec.name, day, decision.why, decision.facts)
    return decision
