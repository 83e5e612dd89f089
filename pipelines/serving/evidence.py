"""Live evidence for a rollout: the per-row loss of champion and challenger on the labelled
rows each scored at the rollout's current step, read from the lake (predictions joined with
the labels that have arrived). ``policy.compare_cohorts`` turns it into an interval."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from pipelines.core.calendar import days_between
from pipelines.core.layout import PREDICTIONS, RAW, labels_dataset
from pipelines.core.metrics import row_losses
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.serving.policy import LiveComparison, compare_cohorts
from pipelines.serving.state import State


def live_comparison(
    lake: Lake, spec: ModelSpec, state: State, now: datetime
) -> LiveComparison | None:
    """Champion vs challenger loss on the labelled rows scored at the rollout's current step."""
    current = state.rollout
    if current is None:
        return None
    last = now.date() - timedelta(days=spec.label.arrival_delay_days)
    losses: dict[str, list[np.ndarray]] = {state.champion or "": [], current.version: []}
    labels_name = labels_dataset(spec.source.dataset)
    for day in days_between(current.since.date(), last):
        if not (lake.exists(PREDICTIONS, spec.name, day) and lake.exists(RAW, labels_name, day)):
            continue
        predictions = lake.read_partition(PREDICTIONS, spec.name, day)
        predictions = predictions[predictions["rollout_salt"] == current.salt]
        labels = lake.read_partition(RAW, labels_name, day, [spec.entity_key, spec.label.name])
        joined = predictions.merge(labels.dropna(), on=spec.entity_key, how="inner")
        for version, rows in joined.groupby("model_version"):
            if version in losses:
                label = rows[spec.label.name].to_numpy(dtype="float64")
                loss = row_losses(spec.label.task, label, rows["prediction"].to_numpy())
                losses[str(version)].append(loss)
    champion, challenger = (
        np.concatenate(losses[v]) if losses[v] else np.array([])
        for v in (state.champion or "", current.version)
    )
    return compare_cohorts(champion, challenger, spec.promotion.confidence)
