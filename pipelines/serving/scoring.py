"""Batch scoring with a traffic split: champion for most rows, the challenger for its share.

Rows go to the challenger by a stable hash of the entity key salted per rollout, so an
entity stays on one model during a step and a new rollout reshuffles. Which models serve is
read from the promotion history as of the run's time: a backfill of a past date scores with
the versions of that date. A challenger that fails to load or predicts NaN serves no row:
the champion takes them all, the reason is kept with the result, and the caller pauses the
rollout. The predictions partition (``predictions/<model>/date=D``) is written atomically with
the model version and alias of every row.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.errors import NoChampionError, PartitionMissingError
from pipelines.core.layout import CHAMPION, FEATURES, OVERRIDE, PREDICTIONS
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.serving.split import challenger_mask, predictions_frame
from pipelines.serving.state import State
from pipelines.training.pyfunc import predict_logged

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    model: str
    day: date
    uri: str
    rows: int
    rows_by_version: dict[str, int]
    champion: str
    challenger: str | None
    share: float
    fallback: str  # why the challenger served no row ("" when it served)
    served_as: str = CHAMPION  # the champion's alias in the rows: champion, catch_up, override
    caught_up: list[str] = field(default_factory=list)  # earlier days scored with this run

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat()}

    @property
    def days(self) -> list[str]:
        """Every day this run wrote predictions for, oldest first."""
        return sorted([*self.caught_up, self.day.isoformat()])


def score_day(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    registry: Registry,
    state: State,
    version: str | None = None,
    served_as: str = CHAMPION,
) -> ScoreResult:
    """Score the features of ``day`` with the models ``state`` serves (or only ``version``);
    ``served_as`` labels the champion's rows (``catch_up`` for a day scored late)."""
    if not lake.exists(FEATURES, spec.name, day):
        uri = lake.partition_uri(FEATURES, spec.name, day)
        raise PartitionMissingError(f"{spec.name}: no features for {day} at {uri}")
    frame = lake.read_partition(FEATURES, spec.name, day)
    champion = version or state.champion
    if champion is None:
        raise NoChampionError(f"{spec.name}: no champion yet to score {day} with")
    rollout = None if version else state.rollout
    mask = np.zeros(len(frame), dtype=bool)
    fallback = ""
    predictions = np.full(len(frame), np.nan)
    features = frame[spec.feature_names]  # rows are copied below only for these columns
    if rollout is not None and rollout.share > 0:
        mask = challenger_mask(frame[spec.entity_key], rollout.salt, rollout.share)
        fallback = _challenger_scores(registry, spec, rollout.version, features, mask, predictions)
        if fallback:
            log.warning("%s %s: %s; the champion scores every row", spec.name, day, fallback)
            mask[:] = False
    champion_rows = features if not mask.any() else features[~mask]
    predictions[~mask] = predict_logged(
        registry.load_model(spec.name, champion), champion_rows, spec
    )
    challenger = rollout.version if rollout is not None else None
    out = predictions_frame(
        frame,
        spec,
        predictions,
        mask,
        (champion, served_as if not version else OVERRIDE),
        challenger,
        rollout.salt if rollout else "",
    )
    written = lake.write_partition(out, PREDICTIONS, spec.name, day)
    counts = out["model_version"].value_counts().to_dict()
    return ScoreResult(
        model=spec.name,
        day=day,
        uri=written.uri,
        rows=len(out),
        rows_by_version={str(k): int(v) for k, v in counts.items() if v},
        champion=champion,
        challenger=challenger,
        share=rollout.share if rollout is not None else 0.0,
        fallback=fallback,
        served_as=served_as if not version else OVERRIDE,
    )


def _challenger_scores(
    registry: Registry,
    spec: ModelSpec,
    version: str,
    features: pd.DataFrame,
    mask: np.ndarray,
    predictions: np.ndarray,
) -> str:
    """Fill ``predictions`` for the challenger's rows; '' when it served, else why not (any
    failure, NaN included, takes it out: the champion then scores those rows)."""
    try:
        served = predict_logged(registry.load_model(spec.name, version), features[mask], spec)
        if np.isnan(served).any():
            raise ValueError(f"{int(np.isnan(served).sum())} NaN predictions")
    except Exception as exc:  # any failure of the challenger: the champion serves
        return f"challenger v{version} failed: {type(exc).__name__}: {exc}"[:500]
    predictions[mask] = served
    return ""
