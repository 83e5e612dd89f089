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

import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipelines.dataset import model_matrix
from pipelines.errors import NoChampionError, PartitionMissingError
from pipelines.promotion import State
from pipelines.registry import CHALLENGER, CHAMPION
from pipelines.spec import ModelSpec
from pipelines.storage import Lake

log = logging.getLogger(__name__)
PREDICTIONS = "predictions"


def challenger_mask(keys: pd.Series, salt: str, share: float) -> np.ndarray:
    """True for the rows whose salted key hash falls in the challenger's share.

    Keys are hashed as stored (their type is fixed by the data contract), with a 64-bit
    SipHash keyed by the rollout's salt.
    """
    if share <= 0:
        return np.zeros(len(keys), dtype=bool)
    hash_key = hashlib.sha256(salt.encode()).hexdigest()[:16]
    hashed = pd.util.hash_pandas_object(keys, index=False, hash_key=hash_key).to_numpy()
    return hashed < np.uint64(min(share, 1.0) * float(2**64 - 1))


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

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat()}


def load_model(tracking_uri: str, model: str, version: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.pyfunc.load_model(f"models:/{model}/{version}")


def predict_logged(model: Any, frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    """Predictions of a logged model; ours skip the pyfunc's input conversion (same matrix)."""
    from pipelines.model import TabularModel, as_model_input  # imports MLflow

    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else None
    if isinstance(inner, TabularModel):
        return np.asarray(inner.fitted.predict(model_matrix(frame, inner.spec, inner.levels)))
    return np.asarray(model.predict(as_model_input(frame, spec)), dtype="float64")


def predictions_frame(
    frame: pd.DataFrame,
    spec: ModelSpec,
    predictions: np.ndarray,
    to_challenger: np.ndarray,
    champion: tuple[str, str],
    challenger: str | None,
    salt: str,
) -> pd.DataFrame:
    """The predictions partition's rows: key, time, prediction, and the version and alias
    (``champion`` is (version, alias)) that served each row."""
    served_by = to_challenger.astype("int8")
    return pd.DataFrame(
        {
            spec.entity_key: frame[spec.entity_key],
            spec.timestamp: frame[spec.timestamp],
            "prediction": predictions,
            "model_version": pd.Categorical.from_codes(served_by, [champion[0], challenger or "-"]),
            "model_alias": pd.Categorical.from_codes(served_by, [champion[1], CHALLENGER]),
            "rollout_salt": pd.Categorical.from_codes(np.zeros(len(frame), dtype="int8"), [salt]),
        }
    )


def score_day(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    tracking_uri: str,
    state: State,
    version: str | None = None,
) -> ScoreResult:
    """Score the features of ``day`` with the models ``state`` serves (or only ``version``)."""
    path = lake.partition_path("features", spec.name, day)
    if not lake.fs.exists(path):
        raise PartitionMissingError(f"{spec.name}: no features for {day} at {lake.uri(path)}")
    frame = lake.read_frame(path)
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
        try:
            served = predict_logged(
                load_model(tracking_uri, spec.name, rollout.version), features[mask], spec
            )
            if np.isnan(served).any():
                raise ValueError(f"{int(np.isnan(served).sum())} NaN predictions")
            predictions[mask] = served
        except Exception as exc:  # any failure of the challenger: the champion serves
            fallback = f"challenger v{rollout.version} failed: {type(exc).__name__}: {exc}"[:500]
            log.warning("%s %s: %s; the champion scores every row", spec.name, day, fallback)
            mask[:] = False
    champion_rows = features if not mask.any() else features[~mask]
    predictions[~mask] = predict_logged(
        load_model(tracking_uri, spec.name, champion), champion_rows, spec
    )
    challenger = rollout.version if rollout is not None else None
    out = predictions_frame(
        frame,
        spec,
        predictions,
        mask,
        (champion, CHAMPION if not version else "override"),
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
    )
