"""Live performance once labels arrive: the labels of day ``L = D - arrival_delay_days`` joined
by entity key to what each version predicted on L; the gate metric per version against its
holdout value (decay: worse by more than ``performance.max_drop``, relative), and the
labels' distribution against the champion's holdout labels (target drift)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipelines.core.layout import PREDICTIONS, RAW, labels_dataset
from pipelines.core.metrics import HIGHER_IS_BETTER, holdout_metrics
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.monitoring.reference import PREDICTION, label_values
from pipelines.monitoring.verdicts import ColumnDrift, VersionPerformance, judged, today

SERVED_COLUMNS = ("model_version", "model_alias")


class References(Protocol):
    """Where reference profiles come from: the registry, or files (benchmarks)."""

    def get(self, version: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class LiveVerdict:
    """What the labels of ``labels_day`` say, or why nothing could be judged yet."""

    labels_day: date
    labels: str = "pending"  # "pending", "in", or why performance was not judged
    performance: list[VersionPerformance] = field(default_factory=list)
    target: ColumnDrift | None = None


def read_predictions(lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame | None:
    """The day's predictions (key, prediction, serving version and alias), if it was scored."""
    if not lake.exists(PREDICTIONS, spec.name, day):
        return None
    columns = [spec.entity_key, PREDICTION, *SERVED_COLUMNS]
    return lake.read_partition(PREDICTIONS, spec.name, day, columns)


def live_verdict(
    lake: Lake, spec: ModelSpec, day: date, champion: str, references: References
) -> LiveVerdict:
    """Live metric per version and target drift, once the labels of ``L`` are in."""
    labelled = day - timedelta(days=spec.label.arrival_delay_days)
    dataset = labels_dataset(spec.source.dataset)
    if not lake.exists(RAW, dataset, labelled):
        return LiveVerdict(labelled)
    scored = read_predictions(lake, spec, labelled)
    if scored is None:
        return LiveVerdict(labelled, labels=f"no predictions for {labelled}")
    labels = lake.read_partition(RAW, dataset, labelled, [spec.entity_key, spec.label.name])
    labels = labels[labels[spec.label.name].notna()]
    joined = scored.merge(labels, on=spec.entity_key, how="inner")
    performance = [
        found
        for version, rows in joined.groupby("model_version", observed=True)
        if (found := _version_performance(spec, str(version), rows, references)) is not None
    ]
    return LiveVerdict(
        labelled, "in", performance, _target_drift(spec, labels, champion, references)
    )


def _target_drift(
    spec: ModelSpec, labels: pd.DataFrame, champion: str, references: References
) -> ColumnDrift | None:
    """The labels' distribution against the champion's holdout labels."""
    reference = references.get(champion)
    if reference is None:
        return None
    counted = today(reference["label"], label_values(labels[spec.label.name], spec.label.task))
    test = spec.drift.categorical if spec.label.task == "binary" else spec.drift.numeric
    limit = spec.drift.max_null_share_increase
    return judged(test, spec.label.name, reference["label"], counted, limit)


def _version_performance(
    spec: ModelSpec, version: str, rows: pd.DataFrame, references: References
) -> VersionPerformance | None:
    """One version's live metric on the labelled rows it scored (None: too few, one class)."""
    reference = references.get(version)
    if reference is None or len(rows) < spec.performance.min_labelled_rows:
        return None
    y_true = rows[spec.label.name].to_numpy(dtype="float64")
    if spec.label.task == "binary" and len(np.unique(y_true)) < 2:
        return None  # one class: ROC AUC is undefined
    metric = spec.gates.metric
    live = holdout_metrics(spec.label.task, y_true, rows[PREDICTION].to_numpy())[metric]
    baseline = float(reference["metric"]["value"])
    worse = baseline - live if HIGHER_IS_BETTER[metric] else live - baseline
    drop = worse / abs(baseline) if baseline else worse
    return VersionPerformance(
        version=version,
        rows=len(rows),
        metric=metric,
        live=live,
        reference=baseline,
        drop=drop,
        decayed=drop > spec.performance.max_drop,
    )
