"""One model's state at a glance, read-only: what the models page and ``pipelines status`` show.

The registry says which versions serve (aliases, gate tags), the lake says what happened
(promotion history, the last validation, drift check and retrain decision). Nothing here
writes: a status read never bootstraps a history or moves an alias.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from pipelines.monitor import MONITORING
from pipelines.registry import CHALLENGER, CHAMPION, PREVIOUS, TAG, alias_version
from pipelines.rollout import read_history
from pipelines.sources import labels_dataset
from pipelines.spec import ModelSpec
from pipelines.storage import Lake
from pipelines.validate import report_folder

HISTORY_SHOWN = 10
SUMMARY_KEYS = (  # of drift.json and retrain.json: the page shows these, not per-column detail
    "version",
    "drifted_share",
    "drifted_columns",
    "prediction_drift",
    "labels",
    "decayed",
    "triggers",
    "retrain",
    "held_by",
)
_DATE_FOLDER = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/([^/]+)$")


@dataclass(frozen=True)
class VersionInfo:
    """A registered version as the page shows it."""

    alias: str
    version: str
    trained_for: str  # the partition date it was trained on
    gate: str  # pass / fail / insufficient_sample
    metric: str
    value: str
    run_id: str


@dataclass
class ModelStatus:
    model: str
    owner: str
    strategy: str
    versions: list[VersionInfo] = field(default_factory=list)
    share: float = 0.0  # challenger's traffic share
    step: int = -1  # index into the spec's steps; -1 when no rollout runs
    steps: list[int] = field(default_factory=list)  # percent
    last_validation: dict[str, Any] | None = None
    last_drift: dict[str, Any] | None = None
    last_retrain: dict[str, Any] | None = None
    last_gate: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # newest first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_status(lake: Lake, client: Any, spec: ModelSpec) -> ModelStatus:
    """Everything the models page shows for one model (MlflowClient passed in)."""
    status = ModelStatus(
        spec.name,
        spec.owner,
        spec.promotion.strategy,
        steps=list(spec.promotion.steps or []),
    )
    for alias in (CHAMPION, CHALLENGER, PREVIOUS):
        found = alias_version(client, spec.name, alias)
        if found is not None:
            status.versions.append(_version_info(alias, found))
    records = read_history(lake, spec.name)
    if records:
        last = records[-1]
        status.share, status.step = last.share, last.step if last.challenger else -1
    status.history = [_brief_record(r.to_dict()) for r in reversed(records[-HISTORY_SHOWN:])]
    status.last_validation = _last_validation(lake, spec)
    status.last_drift = _last_json(lake, spec.name, "drift.json")
    status.last_retrain = _last_json(lake, spec.name, "retrain.json")
    status.last_gate = _last_gate(client, spec.name)
    return status


def _version_info(alias: str, version: Any) -> VersionInfo:
    tags = version.tags or {}
    return VersionInfo(
        alias=alias,
        version=str(version.version),
        trained_for=tags.get(f"{TAG}logical_date", ""),
        gate=tags.get(f"{TAG}gate.decision", ""),
        metric=tags.get(f"{TAG}gate.metric", ""),
        value=tags.get(f"{TAG}gate.value", ""),
        run_id=version.run_id or "",
    )


def _brief_record(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("seq", "action", "at", "by", "why", "champion", "challenger", "share", "step")
    return {k: record.get(k) for k in keys}


def _newest(paths: list[str], leaf: str) -> tuple[date, str] | None:
    """The newest ``.../date=D/<leaf>`` among lake paths."""
    dated = []
    for path in paths:
        match = _DATE_FOLDER.search(path)
        if match and match.group(2) == leaf:
            dated.append((date.fromisoformat(match.group(1)), path))
    return max(dated) if dated else None


def _last_validation(lake: Lake, spec: ModelSpec) -> dict[str, Any] | None:
    """The newest validation of the model's batch (with its labels' one for that night)."""
    dataset = spec.source.dataset
    newest = _newest(lake.list_paths(f"validation/{dataset}"), "result.json")
    if newest is None:
        return None
    day, path = newest
    result = lake.read_json(path)
    failed = {severity: n["failed"] for severity, n in result.get("counts", {}).items()}
    return {
        "date": day.isoformat(),
        "dataset": dataset,
        "status": result.get("status"),
        "rows": result.get("rows"),
        "rows_dropped": result.get("rows_dropped"),
        "failed_checks": failed,
        "report": f"{report_folder(dataset, day)}/report.html",
        "labels_dataset": labels_dataset(spec),
    }


def _last_json(lake: Lake, model: str, leaf: str) -> dict[str, Any] | None:
    newest = _newest(lake.list_paths(f"{MONITORING}/{model}"), leaf)
    if newest is None:
        return None
    day, path = newest
    payload = lake.read_json(path)
    folder = path.rsplit("/", 1)[0]
    report = f"{folder}/evidently.html"
    return {**_summary(payload), "date": day.isoformat(), "report": report, "path": path}


def _summary(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload[k] for k in SUMMARY_KEYS if k in payload}


def _last_gate(client: Any, model: str) -> dict[str, Any] | None:
    """The gate's verdict on the newest version training judged (versions registered by
    hand have no verdict and are passed over)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name='{model}'")
    except MlflowException:
        return None
    judged = [v for v in versions if (v.tags or {}).get(f"{TAG}gate.decision")]
    if not judged:
        return None
    newest = max(judged, key=lambda v: int(v.version))
    tags = newest.tags or {}
    return {
        "version": str(newest.version),
        "decision": tags.get(f"{TAG}gate.decision", ""),
        "metric": tags.get(f"{TAG}gate.metric", ""),
        "value": tags.get(f"{TAG}gate.value", ""),
        "champion_value": tags.get(f"{TAG}gate.champion_value", ""),
        "reasons": tags.get(f"{TAG}gate.reasons", ""),
        "trained_for": tags.get(f"{TAG}logical_date", ""),
    }
