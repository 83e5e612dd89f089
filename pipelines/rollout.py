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
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pipelines.errors import ConcurrentPromotionError, PromotionError
from pipelines.promotion import Record, State, bootstrap, state_after, state_at
from pipelines.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    TAG,
    TAG_VALUE_LIMIT,
    alias_version,
)
from pipelines.storage import Lake

ROLLOUT_TAGS = ("share", "step", "salt", "since", "paused")


def history_folder(model: str) -> str:
    return f"promotions/{model}/history"


def read_history(lake: Lake, model: str) -> list[Record]:
    """Every record of a model's promotion history, oldest first."""
    paths = [p for p in lake.list_paths(history_folder(model)) if p.endswith(".json")]
    records = [Record.from_dict(lake.read_json(path)) for path in paths]
    return sorted(records, key=lambda r: r.seq)


def champion_at(lake: Lake, model: str, moment: datetime) -> str | None:
    """Which version was champion at ``moment`` (None before the first one)."""
    return state_at(read_history(lake, model), model, moment).champion


def current_state(lake: Lake, client: Any, model: str, by: str) -> State:
    """The state after the last record; starts the history from the registry's champion."""
    records = read_history(lake, model)
    if records:
        return state_after(records[-1])
    empty = State(model, champion=None)
    champion = alias_version(client, model, CHAMPION)
    if champion is None:
        return empty
    trained = champion.tags.get(f"{TAG}logical_date")  # crowned when that day's run ended
    at = (
        datetime.combine(date.fromisoformat(trained) + timedelta(days=1), time.min, UTC)
        if trained
        else datetime.now(UTC)
    )
    after, record = bootstrap(empty, str(champion.version), at, by, "champion set by training")
    commit(lake, client, empty, record)
    return after


def commit(lake: Lake, client: Any, before: State, record: Record) -> None:
    """Append ``record`` if nobody else did since ``before`` was read, then update MLflow."""
    if record.seq != before.seq + 1:
        raise PromotionError(f"{before.model}: record {record.seq} does not follow {before.seq}")
    record = replace(record, recorded_at=datetime.now(UTC).isoformat())
    data = json.dumps(record.to_dict(), sort_keys=True, default=str).encode()
    path = f"{history_folder(before.model)}/{record.seq:08d}.json"
    if not lake.create_once(data, path):
        raise ConcurrentPromotionError(
            f"{before.model}: another promotion run wrote history record {record.seq} first; "
            "nothing was changed by this one (re-run it to decide on the new state)"
        )
    project(client, record)


def reconcile(lake: Lake, client: Any, model: str) -> None:
    """Make the registry say what the last history record says (idempotent)."""
    records = read_history(lake, model)
    if records:
        project(client, records[-1])


def project(client: Any, record: Record) -> None:
    """Aliases and tags for the state a record leaves behind."""
    model = record.model
    if record.champion is not None:
        _set_alias(client, model, CHAMPION, record.champion)
    if record.previous is not None:
        _set_alias(client, model, PREVIOUS, record.previous)
    else:
        _delete_alias(client, model, PREVIOUS)
    current = alias_version(client, model, CHALLENGER)
    if record.challenger is not None:
        _set_alias(client, model, CHALLENGER, record.challenger)
        values = {
            "share": f"{record.share:g}",
            "step": str(record.step),
            "salt": record.salt,
            "since": record.since.isoformat() if record.since else "",
            "paused": record.paused,
        }
        for key, value in values.items():
            client.set_model_version_tag(model, record.challenger, f"{TAG}rollout.{key}", value)
    elif current is not None and str(current.version) == record.released:
        _delete_alias(client, model, CHALLENGER)
    if record.released:
        client.set_model_version_tag(model, record.released, f"{TAG}rollout.share", "0")
        client.set_model_version_tag(model, record.released, f"{TAG}rollout.ended", record.action)
    audit = json.dumps(record.to_dict(), sort_keys=True, default=str)[:TAG_VALUE_LIMIT]
    concerned = {record.champion, record.challenger, record.from_version, record.to_version}
    for version in sorted(v for v in concerned if v):
        client.set_model_version_tag(model, version, f"{TAG}promotion.{record.seq:06d}", audit)


def _set_alias(client: Any, model: str, alias: str, version: str) -> None:
    current = alias_version(client, model, alias)
    if current is None or str(current.version) != version:
        client.set_registered_model_alias(model, alias, version)


def _delete_alias(client: Any, model: str, alias: str) -> None:
    if alias_version(client, model, alias) is not None:
        client.delete_registered_model_alias(model, alias)


def require_version(client: Any, model: str, version: str) -> None:
    """A clear error when ``version`` is not a registered version of ``model``."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(model, version)
    except MlflowException as exc:
        raise PromotionError(
            f"{model}: version {version!r} is not registered for this model; nothing changed"
        ) from exc
