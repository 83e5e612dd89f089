"""Model quality metrics, owned here: the gate, live monitoring and the promotion evidence all
measure with these functions, so a metric means the same thing at every step.

``metric_value`` is fast and pure NumPy (the gate bootstraps it hundreds of times);
``holdout_metrics`` is what every version reports (scikit-learn's reference implementations);
``row_losses`` is the per-row loss the promotion compares cohorts on. Every value is a plain
float, NaN where it is undefined (one class for ROC AUC): callers make it JSON-safe.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

HIGHER_IS_BETTER = {"roc_auc": True, "log_loss": False, "rmse": False, "mae": False}
EPSILON = 1e-7  # probabilities are clipped to [EPSILON, 1 - EPSILON] for log loss


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Rank-based AUC (Mann-Whitney), fast enough to bootstrap; NaN with one class."""
    positives = y == 1
    n_pos = int(positives.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(p).rank(method="average").to_numpy()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": _roc_auc,
    "log_loss": _log_loss,
    "rmse": _rmse,
    "mae": _mae,
}


def metric_value(name: str, y: np.ndarray, p: np.ndarray) -> float:
    return METRICS[name](np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64"))


def improvement(name: str, challenger: float, champion: float) -> float:
    """Challenger minus champion, signed so that positive means better."""
    delta = challenger - champion
    return delta if HIGHER_IS_BETTER[name] else -delta


def holdout_metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The metrics every model reports; the spec's gate metric is one of them. ROC AUC is NaN
    when the labels hold one class (scikit-learn would raise)."""
    from sklearn import metrics

    if task == "binary":
        clipped = np.clip(y_pred, EPSILON, 1 - EPSILON)
        two_classes = len(np.unique(y_true)) == 2
        return {
            "roc_auc": float(metrics.roc_auc_score(y_true, y_pred)) if two_classes else np.nan,
            "log_loss": float(metrics.log_loss(y_true, clipped, labels=[0, 1])),
        }
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, y_pred))),
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
    }


def row_losses(task: str, label: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Per-row loss: log loss for binary labels, squared error for regression."""
    if task == "binary":
        p = np.clip(prediction, EPSILON, 1 - EPSILON)
        return np.asarray(-(label * np.log(p) + (1 - label) * np.log(1 - p)))
    return np.asarray((prediction - label) ** 2)
