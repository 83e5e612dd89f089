"""Promotion state on disk: an append-only history in the lake, projected onto MLflow aliases.

``promotions/<model>/history/<seq>.json`` holds one record per transition, numbered from 1.
A transition is written by creating the next number exclusively (``Lake.create_once``): two
runs that read the same state cannot both write, so the loser fails with
``ConcurrentPromotionError`` before it touches the registry. Then the registry follows:
aliases ``champion`` / ``challenger`` / ``previous``, ``mlops.rollout.*`` tags on the
challenger and an ``mlops.promotion.<seq>`` audit tag on every version concerned. A crash
between the two is finished by the next run (``reconcile``), so the registry always ends up
saying what the history says. Use the rollback DAG, not the MLflow UI, to move aliases: an
alias moved by hand is put back to the history's state by the next promotion run.

Beside the transitions, every nightly promotion decision (a hold or an idle night included)
is kept per partition day under ``promotions/<model>/decisions/date=D/``. The newest such
day is the model's **frontier**: runs for a date behind it are backfills, which judge
against what served then and never move the present (``Backfill``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipelines.core import layout
from pipelines.core.calendar import day_end
from pipelines.core.errors import ConcurrentPromotionError, PromotionError
from pipelines.core.layout import CHALLENGER, CHAMPION, PREVIOUS, Tags, rollout_tag
from pipelines.core.registry import Registry
from pipelines.core.storage import Lake
from pipelines.serving.state import Record, State, bootstrap, state_after, state_at
from pipelines.training.context import Backfill


def read_history(lake: Lake, model: str) -> list[Record]:
    """Every record of a model's promotion history, oldest first."""
    paths = [p for p in lake.list_paths(layout.history_folder(model)) if p.endswith(".json")]
    records = [Record.from_dict(lake.read_json(path)) for path in paths]
    return sorted(records, key=lambda r: r.seq)


def champion_at(lake: Lake, model: str, moment: datetime) -> str | None:
    """Which version was champion at ``moment`` (None before the first one)."""
    return state_at(read_history(lake, model), model, moment).champion


def frontier(lake: Lake, model: str) -> date | None:
    """The newest partition day with a promotion decision recorded (None before the first)."""
    paths = lake.list_paths(layout.decisions_of(model))
    newest = layout.newest_dated(paths, layout.PROMOTION_DECISION)
    return newest[0] if newest else None


def decision_on(lake: Lake, model: str, day: date) -> dict[str, Any] | None:
    """The promotion decision recorded for ``day``, if one was made."""
    path = layout.promotion_decision(model, day)
    return dict(lake.read_json(path)) if lake.exists_path(path) else None


def save_decision(lake: Lake, model: str, day: date, decision: dict[str, Any]) -> str:
    """Keep the night's decision (idempotent: a re-run of the same night overwrites it)."""
    return lake.write_json(
        {**decision, "day": day.isoformat()}, layout.promotion_decision(model, day)
    )


def backfill_of(lake: Lake, model: str, day: date, timezone: str) -> Backfill | None:
    """How a run for ``day`` must behave: None at or past the frontier (it moves the model
    forward), else the frontier and the champion that served at the end of ``day``."""
    newest = frontier(lake, model)
    if newest is None or day >= newest:
        return None
    served = state_at(read_history(lake, model), model, day_end(day, timezone)).champion
    return Backfill(frontier=newest, champion=served)


def people_time(lake: Lake, model: str, now: datetime, timezone: str) -> datetime:
    """When a person's action (rollback, advance, abort) is recorded: ``now``, but no later
    than the end of the night after the frontier (so that a replay of past nights, whose
    decisions are stamped with their own dates, is not overtaken by today's clock), and never
    before the newest record (``state.no_earlier`` sees to that)."""
    newest = frontier(lake, model)
    if newest is None:
        return now
    return min(now, day_end(newest + timedelta(days=1), timezone))


def current_state(lake: Lake, registry: Registry, model: str, by: str, timezone: str) -> State:
    """The state after the last record; starts the history from the registry's champion,
    crowned when the day it was trained for ended (in the model's ``timezone``)."""
    records = read_history(lake, model)
    if records:
        return state_after(records[-1])
    empty = State(model, champion=None)
    champion = registry.alias_version(model, CHAMPION)
    if champion is None:
        return empty
    trained = (champion.tags or {}).get(Tags.LOGICAL_DATE)
    at = day_end(date.fromisoformat(trained), timezone) if trained else datetime.now(UTC)
    after, record = bootstrap(empty, str(champion.version), at, by, "champion set by training")
    commit(lake, registry, empty, record)
    return after


def commit(lake: Lake, registry: Registry, before: State, record: Record) -> None:
    """Append ``record`` if nobody else did since ``before`` was read, then update MLflow."""
    if record.seq != before.seq + 1:
        raise PromotionError(f"{before.model}: record {record.seq} does not follow {before.seq}")
    record = replace(record, recorded_at=datetime.now(UTC).isoformat())
    data = json.dumps(record.to_dict(), sort_keys=True, default=str).encode()
    if not lake.create_once(data, layout.history_record(before.model, record.seq)):
        raise ConcurrentPromotionError(
            f"{before.model}: another promotion run wrote history record {record.seq} first; "
            "nothing was changed by this one (re-run it to decide on the new state)"
        )
    project(registry, record)


def reconcile(lake: Lake, registry: Registry, model: str) -> None:
    """Make the registry say what the last history record says (idempotent)."""
    records = read_history(lake, model)
    if records:
        project(registry, records[-1])


def project(registry: Registry, record: Record) -> None:
    """Aliases and tags for the state a record leaves behind."""
    model = record.model
    if record.champion is not None:
        registry.set_alias(model, CHAMPION, record.champion)
    if record.previous is not None:
        registry.set_alias(model, PREVIOUS, record.previous)
    else:
        registry.delete_alias(model, PREVIOUS)
    current = registry.alias_version(model, CHALLENGER)
    if record.challenger is not None:
        registry.set_alias(model, CHALLENGER, record.challenger)
        values = {
            "share": f"{record.share:g}",
            "step": str(record.step),
            "salt": record.salt,
            "since": record.since.isoformat() if record.since else "",
            "paused": record.paused,
        }
        registry.set_tags(model, record.challenger, {rollout_tag(k): v for k, v in values.items()})
    elif current is not None and str(current.version) == record.released:
        registry.delete_alias(model, CHALLENGER)
    if record.released:
        ended = {rollout_tag("share"): "0", Tags.ROLLOUT_ENDED: record.action}
        registry.set_tags(model, record.released, ended)
    audit = json.dumps(record.to_dict(), sort_keys=True, default=str)[: layout.TAG_VALUE_LIMIT]
    concerned = {record.champion, record.challenger, record.from_version, record.to_version}
    for version in sorted(v for v in concerned if v):
        registry.set_tags(model, version, {layout.promotion_tag(record.seq): audit})


def require_version(registry: Registry, model: str, version: str) -> None:
    """A clear error when ``version`` is not a registered version of ``model``."""
    if registry.version(model, version) is None:
        raise PromotionError(
            f"{model}: version {version!r} is not registered for this model; nothing changed"
        )
