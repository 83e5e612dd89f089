"""One monitoring run: a day's data, predictions and (late) labels against the reference.

- data drift: each feature of the day (``drift.window_days`` ending on it) against the profile
  of the champion that served it, with the spec's test per column type; missing-value drift;
- prediction drift: each serving version's predictions against its own holdout predictions;
- once labels of day ``L = D - arrival_delay_days`` are in, live performance per version (the
  gate metric on the labelled rows it scored) against its holdout value, and target drift.

The result is saved to ``monitoring/<model>/date=D/drift.json``; the columns are read one at a
time from Parquet, counted against the stored grid, and dropped (pipelines/drift.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines import drift
from pipelines.errors import NoChampionError, PartitionMissingError
from pipelines.reference import PREDICTION, label_values, load_reference
from pipelines.registry import CHAMPION, alias_version
from pipelines.score import PREDICTIONS
from pipelines.sources import labels_dataset
from pipelines.spec import DriftTestSpec, FeatureSpec, ModelSpec
from pipelines.storage import Lake

log = logging.getLogger(__name__)
MONITORING = "monitoring"
HIGHER_IS_BETTER = {"roc_auc"}


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict; ``null_*`` are its missing shares in reference and today."""

    column: str
    test: str
    threshold: float
    score: float
    drifted: bool
    null_reference: float
    null_today: float
    missing_drift: bool


@dataclass(frozen=True)
class VersionPerformance:
    """Live performance of one version on the labelled rows it scored."""

    version: str
    rows: int
    metric: str
    live: float
    reference: float
    drop: float  # relative: how much worse than on the holdout (0.1 = 10% worse)
    decayed: bool


@dataclass
class MonitorResult:
    model: str
    day: date
    version: str  # the champion whose reference the data is compared with
    rows: int
    columns: list[ColumnDrift] = field(default_factory=list)
    drifted_share: float = 0.0
    data_drift: bool = False
    prediction: list[ColumnDrift] = field(default_factory=list)
    labels_day: date | None = None
    labels: str = "pending"  # "pending", "in", or why performance was not judged
    performance: list[VersionPerformance] = field(default_factory=list)
    target: ColumnDrift | None = None
    triggers: list[str] = field(default_factory=list)
    uri: str = ""

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["day"] = self.day.isoformat()
        payload["labels_day"] = self.labels_day.isoformat() if self.labels_day else None
        payload["drifted_columns"] = self.drifted_columns
        return payload

    def summary(self) -> dict[str, Any]:
        """The small JSON for XCom and Asset events."""
        return {
            "model": self.model,
            "date": self.day.isoformat(),
            "version": self.version,
            "rows": self.rows,
            "drifted_share": round(self.drifted_share, 4),
            "drifted_columns": self.drifted_columns,
            "prediction_drift": {p.column: round(p.score, 4) for p in self.prediction if p.drifted},
            "labels": self.labels,
            "decayed": [p.version for p in self.performance if p.decayed],
            "triggers": self.triggers,
            "uri": self.uri,
        }


def result_path(model: str, day: date) -> str:
    return f"{MONITORING}/{model}/date={day.isoformat()}/drift.json"


def monitor_day(lake: Lake, spec: ModelSpec, day: date, tracking_uri: str) -> MonitorResult:
    """Judge ``day`` and save the verdicts; raises PartitionMissingError without features."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    paths = feature_paths(lake, spec, day)
    predictions = read_predictions(lake, spec, day)
    champion = _reference_version(client, spec, predictions)
    result = judge_day(
        lake, spec, day, paths, predictions, champion, _References(client, spec.name)
    )
    result.uri = lake.write_json(result.to_dict(), result_path(spec.name, day))
    log.info("%s %s monitoring: %s", spec.name, day, result.summary())
    return result


class References(Protocol):
    """Where reference profiles come from: the registry (``_References``), or files."""

    def get(self, version: str) -> dict[str, Any] | None: ...


def judge_day(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    paths: list[str],
    predictions: pd.DataFrame | None,
    version: str,
    references: References,
) -> MonitorResult:
    """Every verdict on ``day`` against ``version``'s reference profile; saves nothing."""
    reference = references.get(version)
    if reference is None:
        raise NoChampionError(
            f"{spec.name}: version {version} has no reference profile (trained before "
            "monitoring existed); the next trained version will have one"
        )
    result = MonitorResult(model=spec.name, day=day, version=version, rows=0)
    result.columns = list(column_drift(lake, spec, paths, reference))
    result.rows = sum(lake.row_count(path) for path in paths)
    drifted = sum(c.drifted for c in result.columns)
    result.drifted_share = drifted / len(result.columns)
    result.data_drift = result.drifted_share >= spec.drift.share_of_drifted_columns
    if predictions is not None:
        result.prediction = list(_prediction_drift(spec, predictions, references))
    _performance(lake, spec, day, references, result)
    result.triggers = _triggers(spec, result)
    return result


class _References:
    """Reference profiles by version, loaded once each."""

    def __init__(self, client: Any, model: str) -> None:
        self.client, self.model = client, model
        self.loaded: dict[str, dict[str, Any] | None] = {}

    def get(self, version: str) -> dict[str, Any] | None:
        if version not in self.loaded:
            self.loaded[version] = load_reference(self.client, self.model, version)
        return self.loaded[version]


def feature_paths(lake: Lake, spec: ModelSpec, day: date) -> list[str]:
    days = [day - timedelta(days=i) for i in range(spec.drift.window_days)]
    paths = [lake.partition_path("features", spec.name, d) for d in reversed(days)]
    found = [p for p in paths if lake.fs.exists(p)]
    if not lake.fs.exists(paths[-1]):
        raise PartitionMissingError(
            f"{spec.name}: no features for {day} at {lake.uri(paths[-1])} to monitor"
        )
    return found


def read_predictions(lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame | None:
    path = lake.partition_path(PREDICTIONS, spec.name, day)
    if not lake.fs.exists(path):
        return None
    columns = [spec.entity_key, PREDICTION, "model_version", "model_alias"]
    return lake.read_frame(path, columns)


def _reference_version(client: Any, spec: ModelSpec, predictions: pd.DataFrame | None) -> str:
    """The version that served the day as champion, else the registry's champion."""
    if predictions is not None and len(predictions):
        served = predictions.loc[predictions["model_alias"] != "challenger", "model_version"]
        if len(served):
            return str(served.astype("string").mode().iloc[0])
    version = alias_version(client, spec.name, CHAMPION)
    if version is None:
        raise NoChampionError(f"{spec.name}: no champion yet, nothing to monitor against")
    return str(version.version)


def _read_column(lake: Lake, paths: list[str], column: str) -> pa.ChunkedArray:
    tables = [lake.read_table(path, [column]) for path in paths]
    return pa.concat_tables(tables, promote_options="permissive").column(0)


def column_drift(
    lake: Lake, spec: ModelSpec, paths: list[str], reference: dict[str, Any]
) -> Iterator[ColumnDrift]:
    """Every feature judged; columns are read and counted two at a time (numpy releases
    the GIL while counting), so memory holds about two columns."""

    def judge(feature: FeatureSpec) -> ColumnDrift:
        profile = reference["columns"][feature.name]
        values = _read_column(lake, paths, feature.name)
        return judged(
            spec.drift_test(feature),
            feature.name,
            profile,
            today(profile, values),
            spec.drift.max_null_share_increase,
        )

    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        yield from pool.map(judge, spec.features)


def today(
    profile: dict[str, Any], values: pa.ChunkedArray | pd.Series | np.ndarray
) -> dict[str, Any]:
    """Today's counts of one column on the reference profile's grid or categories."""
    if profile["kind"] == "numeric":
        if isinstance(values, pa.ChunkedArray):
            values = values.to_numpy()
        array = np.asarray(values, dtype="float64")
        return drift.numeric_today(profile, array)
    series = values.to_pandas() if isinstance(values, pa.ChunkedArray) else pd.Series(values)
    return drift.categorical_today(profile, series)


def judged(
    test: DriftTestSpec,
    column: str,
    profile: dict[str, Any],
    counted: dict[str, Any],
    max_null_increase: float,
) -> ColumnDrift:
    value = drift.score(test.test, profile, counted)
    null_reference, null_today = drift.null_share(profile), drift.null_share(counted)
    return ColumnDrift(
        column=column,
        test=test.test,
        threshold=test.limit,
        score=value,
        drifted=drift.drifted(test, value),
        null_reference=round(null_reference, 6),
        null_today=round(null_today, 6),
        missing_drift=null_today - null_reference > max_null_increase,
    )


def _prediction_drift(
    spec: ModelSpec, predictions: pd.DataFrame, references: References
) -> Iterator[ColumnDrift]:
    for version, rows in predictions.groupby("model_version", observed=True):
        reference = references.get(str(version))
        if reference is None:
            continue
        counted = today(reference["prediction"], rows[PREDICTION].to_numpy())
        yield judged(
            spec.drift.prediction,
            str(version),
            reference["prediction"],
            counted,
            spec.drift.max_null_share_increase,
        )


def _performance(
    lake: Lake, spec: ModelSpec, day: date, references: References, result: MonitorResult
) -> None:
    """Live metric per version and target drift, once the labels of ``L`` are in."""
    from pipelines.gate import validation_metrics

    labelled = day - timedelta(days=spec.label.arrival_delay_days)
    result.labels_day = labelled
    labels_path = lake.partition_path("raw", labels_dataset(spec), labelled)
    if not lake.fs.exists(labels_path):
        result.labels = "pending"
        return
    scored = read_predictions(lake, spec, labelled)
    if scored is None:
        result.labels = f"no predictions for {labelled}"
        return
    labels = lake.read_frame(labels_path, [spec.entity_key, spec.label.name])
    labels = labels[labels[spec.label.name].notna()]
    joined = scored.merge(labels, on=spec.entity_key, how="inner")
    result.labels = "in"
    champion = references.get(result.version)
    if champion is not None:
        counted = today(champion["label"], label_values(labels[spec.label.name], spec.label.task))
        test = spec.drift.categorical if spec.label.task == "binary" else spec.drift.numeric
        result.target = judged(
            test, spec.label.name, champion["label"], counted, spec.drift.max_null_share_increase
        )
    metric = spec.gates.metric
    for version, rows in joined.groupby("model_version", observed=True):
        reference = references.get(str(version))
        if reference is None or len(rows) < spec.performance.min_labelled_rows:
            continue
        y_true = rows[spec.label.name].to_numpy(dtype="float64")
        if spec.label.task == "binary" and len(np.unique(y_true)) < 2:
            continue  # one class: ROC AUC is undefined
        live = validation_metrics(spec.label.task, y_true, rows[PREDICTION].to_numpy())[metric]
        baseline = float(reference["metric"]["value"])
        worse = baseline - live if metric in HIGHER_IS_BETTER else live - baseline
        drop = worse / abs(baseline) if baseline else worse
        result.performance.append(
            VersionPerformance(
                version=str(version),
                rows=len(rows),
                metric=metric,
                live=live,
                reference=baseline,
                drop=drop,
                decayed=drop > spec.performance.max_drop,
            )
        )


def _triggers(spec: ModelSpec, result: MonitorResult) -> list[str]:
    """Why a retrain is wanted (empty: it is not), by the spec's ``retraining`` switches."""
    wanted = spec.retraining
    reasons = []
    if wanted.on_data_drift and result.data_drift:
        columns = ", ".join(
            f"{c.column} ({c.test} {c.score:.3f})" for c in result.columns if c.drifted
        )
        reasons.append(
            f"data drift: {result.drifted_share:.0%} of features drifted "
            f"(>= {spec.drift.share_of_drifted_columns:.0%}): {columns}"
        )
    champion_prediction = [p for p in result.prediction if p.column == result.version]
    if wanted.on_prediction_drift and any(p.drifted for p in champion_prediction):
        shift = champion_prediction[0]
        reasons.append(f"prediction drift of v{shift.column}: {shift.test} {shift.score:.3f}")
    decayed = [p for p in result.performance if p.decayed and p.version == result.version]
    if wanted.on_decay and decayed:
        d = decayed[0]
        reasons.append(
            f"decay of v{d.version}: live {d.metric} {d.live:.4f} vs holdout {d.reference:.4f} "
            f"({d.drop:.1%} worse, > {spec.performance.max_drop:.0%}) on {d.rows} labelled rows"
        )
    return reasons
