"""Fit and gate, without MLflow: the labelled window known on a date, split by time, one model
fitted on it, and the gate's verdict against the champion's predictions on the same holdout.

Pure over the lake's data and the spec: the champion enters as a function that predicts rows
(or None), so this step runs the same in a test, an Airflow task and a pod.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.training.dataset import (
    LabelledWindow,
    Split,
    category_levels,
    check_trainable,
    labelled_window,
    model_matrix,
    time_split,
)
from pipelines.training.gate import GateDecision, evaluate_gate
from pipelines.training.trainers import FittedModel, fit

Predictor = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True, eq=False)  # holds frames and arrays: compared by identity
class Candidate:
    """A fitted model, the data it saw, and the gate's verdict on it."""

    spec: ModelSpec
    window: LabelledWindow
    split: Split
    levels: dict[str, list[str]]  # categorical levels fixed at training time
    model: FittedModel
    predicted: np.ndarray  # on the holdout rows
    decision: GateDecision

    @property
    def y_holdout(self) -> np.ndarray:
        return self.split.holdout[self.spec.label.name].to_numpy()

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """The model's predictions on feature rows as read from the lake."""
        return self.model.predict(model_matrix(rows, self.spec, self.levels))

    def sizes(self) -> dict[str, int]:
        split = self.split
        return {
            "rows_train": len(split.train),
            "rows_valid": len(split.valid),
            "rows_holdout": len(split.holdout),
        }


def fit_and_gate(
    lake: Lake, spec: ModelSpec, day: date, champion: Predictor | None = None
) -> Candidate:
    """Fit on the labelled window known on ``day`` and gate it (``champion``: the current
    champion's predictions on rows, None without one)."""
    window = labelled_window(lake, spec, day)
    split = time_split(window, spec)
    check_trainable(split, spec)
    levels = category_levels(split.train, spec)
    label = spec.label.name
    model = fit(
        spec,
        model_matrix(split.train, spec, levels),
        split.train[label].to_numpy(),
        model_matrix(split.valid, spec, levels),
        split.valid[label].to_numpy(),
    )
    predicted = model.predict(model_matrix(split.holdout, spec, levels))
    decision = evaluate_gate(
        spec.gates,
        split.holdout[label].to_numpy(),
        predicted,
        champion(split.holdout) if champion is not None else None,
        split.holdout[spec.slices] if spec.slices else None,
        seed=spec.training.seed,
    )
    return Candidate(spec, window, split, levels, model, predicted, decision)
