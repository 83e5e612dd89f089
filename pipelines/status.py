"""One model's state at a glance, read-only: what the models page shows.

The registry says which versions serve (aliases, gate tags), the lake says what happened
(promotion history, the last validation, drift check and retrain decision). Nothing here
writes: a status read never bootstraps a history or moves an alias.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.core import layout
from pipelines.core.layout import ALIASES, MONITORING, VALIDATION, Tags, gate_tag
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.serving.history import read_history

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

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


@dataclass(frozen=True)
class ModelStatus:
    """One model as the page shows it: what serves, the rollout, and the newest verdicts."""

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


def model_status(lake: Lake, registry: Registry, spec: ModelSpec) -> ModelStatus:
    """Everything the models page shows for one model."""
    serving = [(alias, registry.alias_version(spec.name, alias)) for alias in ALIASES]
    records = read_history(lake, spec.name)
    last = records[-1] if records else None
    return ModelStatus(
        spec.name,
        spec.owner,
        spec.promotion.strategy,
        versions=[_version_info(alias, found) for alias, found in serving if found is not None],
        share=last.share if last else 0.0,
        step=last.step if last and last.challenger else -1,
        steps=list(spec.promotion.steps or []),
        last_validation=_last_validation(lake, spec),
        last_drift=_last_json(lake, spec.name, layout.DRIFT_RESULT),
        last_retrain=_last_json(lake, spec.name, layout.RETRAIN_DECISION),
        last_gate=_last_gate(registry, spec.name),
        history=[_brief_record(r.to_dict()) for r in reversed(records[-HISTORY_SHOWN:])],
    )


def _version_info(alias: str, version: ModelVersion) -> VersionInfo:
    tags = version.tags or {}
    return VersionInfo(
        alias=alias,
        version=str(version.version),
        trained_for=tags.get(Tags.LOGICAL_DATE, ""),
        gate=tags.get(gate_tag("decision"), ""),
        metric=tags.get(gate_tag("metric"), ""),
        value=tags.get(gate_tag("value"), ""),
        run_id=version.run_id or "",
    )


def _brief_record(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("seq", "action", "at", "by", "why", "champion", "challenger", "share", "step")
    return {k: record.get(k) for k in keys}


def _last_validation(lake: Lake, spec: ModelSpec) -> dict[str, Any] | None:
    """The newest validation of the model's batch (with its labels' one for that night)."""
    dataset = spec.source.dataset
    paths = lake.list_paths(f"{VALIDATION}/{dataset}")
    newest = layout.newest_dated(paths, layout.VALIDATION_RESULT)
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
        "report": layout.validation_report(dataset, day),
        "labels_dataset": layout.labels_dataset(dataset),
    }


def _last_json(lake: Lake, model: str, leaf: str) -> dict[str, Any] | None:
    newest = layout.newest_dated(lake.list_paths(f"{MONITORING}/{model}"), leaf)
    if newest is None:
        return None
    day, path = newest
    payload = lake.read_json(path)
    folder = path.rsplit("/", 1)[0]
    report = f"{folder}/{layout.EVIDENTLY_HTML}"
    return {**_summary(payload), "date": day.isoformat(), "report": report, "path": path}


def _summary(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload[k] for k in SUMMARY_KEYS if k in payload}


def _last_gate(registry: Registry, model: str) -> dict[str, Any] | None:
    """The gate's verdict on the newest version training judged (versions registered by
    hand have no verdict and are passed over)."""
    judged = [v for v in registry.versions(model) if (v.tags or {}).get(gate_tag("decision"))]
    if not judged:
        return None
    newest = max(judged, key=lambda v: int(v.version))
    tags = newest.tags or {}
    return {
        "version": str(newest.version),
        "decision": tags.get(gate_tag("decision"), ""),
        "metric": tags.get(gate_tag("metric"), ""),
        "value": tags.get(gate_tag("value"), ""),
        "champion_value": tags.get(gate_tag("champion_value"), ""),
        "reasons": tags.get(gate_tag("reasons"), ""),
        "trained_for": tags.get(Tags.LOGICAL_DATE, ""),
    }
