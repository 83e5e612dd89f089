"""The gate: is a new model good enough, and not worse than the champion, on the same holdout?

Pure functions over arrays (no MLflow), so every rule is unit-tested over plain values:
- absolute thresholds on the challenger's holdout metric (``min_value`` / ``max_value``);
- a minimum holdout size, below which nothing is decided ("insufficient sample");
- against a champion: the point improvement must reach ``min_improvement`` and a paired
  bootstrap confidence interval of the improvement must stay above ``-max_regression``
  (non-inferiority), resampling the same rows for both models;
- no slice (a value of a spec-declared slice column with enough rows) may regress by more
  than ``slice_tolerance``.
Improvements are signed so that positive is better, whatever the metric's direction; the
metrics themselves are pipelines/core/metrics.py's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.jsonsafe import json_safe
from pipelines.core.metrics import improvement, metric_value
from pipelines.core.spec import GateSpec


@dataclass(frozen=True)
class SliceResult:
    """One slice value where both models were compared."""

    column: str
    value: str
    rows: int
    challenger: float
    champion: float
    improvement: float
    regressed: bool


@dataclass(frozen=True)
class GateDecision:
    """The verdict and every number behind it; stored as version tags and a JSON artifact."""

    passed: bool
    decision: str  # "pass", "fail" or "insufficient_sample"
    reasons: list[str]
    metric: str
    rows: int
    challenger: float
    champion: float | None = None
    improvement: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    slices: list[SliceResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: an undefined number is null."""
        return dict(json_safe(asdict(self)))


def paired_bootstrap(
    name: str,
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    samples: int,
    confidence: float,
    seed: int,
    max_rows: int = 200_000,
) -> tuple[float, float]:
    """Confidence interval of the improvement, resampling rows jointly for both models."""
    rng = np.random.default_rng(seed)
    if len(y) > max_rows:  # a seeded subsample keeps the cost bounded on huge holdouts
        keep = rng.choice(len(y), size=max_rows, replace=False)
        y, challenger, champion = y[keep], challenger[keep], champion[keep]
    deltas = np.empty(samples)
    for i in range(samples):
        rows = rng.integers(0, len(y), size=len(y))
        deltas[i] = improvement(
            name,
            metric_value(name, y[rows], challenger[rows]),
            metric_value(name, y[rows], champion[rows]),
        )
    deltas = deltas[~np.isnan(deltas)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return float(low), float(high)


def compare_slices(
    gate: GateSpec,
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    slices: pd.DataFrame,
) -> list[SliceResult]:
    """Per-value comparison for every slice column; small or one-class slices are skipped."""
    results = []
    for column in slices.columns:
        values = slices[column].astype("string").fillna("<missing>").to_numpy()
        for value in sorted(set(values)):
            rows = values == value
            if rows.sum() < gate.min_slice_rows:
                continue
            new = metric_value(gate.metric, y[rows], challenger[rows])
            old = metric_value(gate.metric, y[rows], champion[rows])
            if np.isnan(new) or np.isnan(old):
                continue
            delta = improvement(gate.metric, new, old)
            results.append(
                SliceResult(
                    column=str(column),
                    value=str(value),
                    rows=int(rows.sum()),
                    challenger=new,
                    champion=old,
                    improvement=delta,
                    regressed=delta < -gate.slice_tolerance,
                )
            )
    return results


def evaluate_gate(
    gate: GateSpec,
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None = None,
    slices: pd.DataFrame | None = None,
    seed: int = 0,
) -> GateDecision:
    """Decide on one challenger; ``champion`` is None when the model has none yet."""
    y = np.asarray(y, dtype="float64")
    challenger = np.asarray(challenger, dtype="float64")
    value = metric_value(gate.metric, y, challenger)
    measured = GateDecision(False, "fail", [], gate.metric, len(y), value)
    if len(y) < gate.min_holdout_rows:
        reason = (
            f"holdout has {len(y)} labelled rows, "
            f"fewer than min_holdout_rows={gate.min_holdout_rows}"
        )
        return replace(measured, decision="insufficient_sample", reasons=[reason])
    if not math.isfinite(value):
        reason = f"{gate.metric} is undefined on this holdout (e.g. its labels hold one class)"
        return replace(measured, decision="insufficient_sample", reasons=[reason])
    reasons = _threshold_reasons(gate, value)
    if champion is None:
        return replace(
            measured, passed=not reasons, decision="fail" if reasons else "pass", reasons=reasons
        )
    champion = np.asarray(champion, dtype="float64")
    compared = _against_champion(gate, y, challenger, champion, seed)
    sliced = [] if slices is None else compare_slices(gate, y, challenger, champion, slices)
    reasons += compared.reasons + [_slice_reason(gate, s) for s in sliced if s.regressed]
    return replace(
        compared,
        reasons=reasons,
        passed=not reasons,
        decision="fail" if reasons else "pass",
        rows=len(y),
        challenger=value,
        slices=sliced,
    )


def _threshold_reasons(gate: GateSpec, value: float) -> list[str]:
    """Why the challenger misses the absolute thresholds (empty: it meets them)."""
    reasons = []
    if gate.min_value is not None and not value >= gate.min_value:
        reasons.append(f"{gate.metric}={value:.4f} is below min_value={gate.min_value}")
    if gate.max_value is not None and not value <= gate.max_value:
        reasons.append(f"{gate.metric}={value:.4f} is above max_value={gate.max_value}")
    return reasons


def _against_champion(
    gate: GateSpec, y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, seed: int
) -> GateDecision:
    """The comparison with the champion on the same rows: the point improvement, its paired
    bootstrap interval, and the reasons they give to refuse the challenger."""
    value, old = metric_value(gate.metric, y, challenger), metric_value(gate.metric, y, champion)
    delta = improvement(gate.metric, value, old)
    low, high = paired_bootstrap(
        gate.metric, y, challenger, champion, gate.bootstrap_samples, gate.confidence, seed
    )
    reasons = []
    if delta < gate.min_improvement:
        reasons.append(
            f"improvement {delta:+.4f} over champion ({old:.4f}) is below "
            f"min_improvement={gate.min_improvement}"
        )
    if low < -gate.max_regression:
        reasons.append(
            f"{gate.confidence:.0%} interval of the improvement [{low:+.4f}, {high:+.4f}] "
            f"reaches below -max_regression={-gate.max_regression}"
        )
    return GateDecision(False, "fail", reasons, gate.metric, len(y), value, old, delta, low, high)


def _slice_reason(gate: GateSpec, result: SliceResult) -> str:
    return (
        f"slice {result.column}={result.value} ({result.rows} rows): {gate.metric} "
        f"{result.challenger:.4f} vs champion {result.champion:.4f} regresses by more "
        f"than slice_tolerance={gate.slice_tolerance}"
    )
