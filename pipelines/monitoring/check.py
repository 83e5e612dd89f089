"""One monitoring run: a day's data, predictions and (late) labels against the reference.

- data drift: each feature of the day (``drift.window_days`` ending on it) against the profile
  of the champion that served it, with the spec's test per column type; missing-value drift;
- prediction drift: each serving version's predictions against its own holdout predictions;
- once labels of day ``L = D - arrival_delay_days`` are in, live performance per version and
  target drift (pipelines/monitoring/live.py).

The result is saved to ``monitoring/<model>/date=D/drift.json``; the columns are read one at a
time from Parquet, counted against the stored grid, and dropped
(pipelines/monitoring/statistics.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from pipelines.core import layout
from pipelines.core.errors import NoChampionError, PartitionMissingError
from pipelines.core.layout import CHAMPION, FEATURES
from pipelines.core.registry import Registry
from pipelines.core.spec import FeatureSpec, ModelSpec
from pipelines.core.storage import Lake
from pipelines.monitoring.live import References, live_verdict, read_predictions
from pipelines.monitoring.reference import PREDICTION, load_reference
from pipelines.monitoring.verdicts import ColumnDrift, MonitorResult, judged, today

log = logging.getLogger(__name__)


def monitor_day(lake: Lake, spec: ModelSpec, day: date, registry: Registry) -> MonitorResult:
    """Judge ``day`` and save the verdicts; raises PartitionMissingError without features."""
    paths = feature_paths(lake, spec, day)
    predictions = read_predictions(lake, spec, day)
    champion = _reference_version(registry, spec, predictions)
    references = RegistryReferences(registry, spec.name)
    result = judge_day(lake, spec, day, paths, predictions, champion, references)
    uri = lake.write_json(result.to_dict(), layout.drift_result(spec.name, day))
    log.info("%s %s monitoring: %s", spec.name, day, result.summary())
    return replace(result, uri=uri)


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
    columns = list(column_drift(lake, spec, paths, reference))
    drifted_share = sum(c.drifted for c in columns) / len(columns)
    prediction = (
        [] if predictions is None else list(_prediction_drift(spec, predictions, references))
    )
    live = live_verdict(lake, spec, day, version, references)
    result = MonitorResult(
        model=spec.name,
        day=day,
        version=version,
        rows=sum(lake.row_count(path) for path in paths),
        columns=columns,
        drifted_share=drifted_share,
        data_drift=drifted_share >= spec.drift.share_of_drifted_columns,
        prediction=prediction,
        labels_day=live.labels_day,
        labels=live.labels,
        performance=live.performance,
        target=live.target,
    )
    return replace(result, triggers=_triggers(spec, result))


class RegistryReferences:
    """Reference profiles by version, loaded once each."""

    def __init__(self, registry: Registry, model: str) -> None:
        self.registry, self.model = registry, model
        self.loaded: dict[str, dict[str, Any] | None] = {}

    def get(self, version: str) -> dict[str, Any] | None:
        if version not in self.loaded:
            self.loaded[version] = load_reference(self.registry, self.model, version)
        return self.loaded[version]


def feature_paths(lake: Lake, spec: ModelSpec, day: date) -> list[str]:
    """The features partitions of the drift window ending on ``day`` that exist."""
    days = [day - timedelta(days=i) for i in reversed(range(spec.drift.window_days))]
    if not lake.exists(FEATURES, spec.name, day):
        uri = lake.partition_uri(FEATURES, spec.name, day)
        raise PartitionMissingError(f"{spec.name}: no features for {day} at {uri} to monitor")
    return [
        lake.partition_path(FEATURES, spec.name, d)
        for d in days
        if lake.exists(FEATURES, spec.name, d)
    ]


def _reference_version(
    registry: Registry, spec: ModelSpec, predictions: pd.DataFrame | None
) -> str:
    """The version that served the day as champion, else the registry's champion."""
    if predictions is not None and len(predictions):
        served = predictions.loc[predictions["model_alias"] != "challenger", "model_version"]
        if len(served):
            return str(served.astype("string").mode().iloc[0])
    version = registry.alias_version(spec.name, CHAMPION)
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
