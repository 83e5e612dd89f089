"""The gate over plain arrays: pass, fail on threshold, fail on slice, insufficient sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipelines.core.spec import GateSpec
from pipelines.training.gate import evaluate_gate, improvement, metric_value

pytestmark = pytest.mark.unit
RNG = np.random.default_rng(5)
N = 4000


def scores(y: np.ndarray, skill: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities whose separation of the classes grows with ``skill``."""
    logits = skill * (2 * y - 1) + rng.normal(size=len(y))
    return 1 / (1 + np.exp(-logits))


@pytest.fixture
def y() -> np.ndarray:
    return (RNG.random(N) < 0.3).astype(float)


def test_rank_auc_matches_sklearn(y):
    p = scores(y, 1.0, np.random.default_rng(1))
    assert metric_value("roc_auc", y, p) == pytest.approx(roc_auc_score(y, p))


def test_improvement_is_positive_when_better_in_either_direction():
    assert improvement("roc_auc", 0.8, 0.7) == pytest.approx(0.1)
    assert improvement("rmse", 1.0, 1.5) == pytest.approx(0.5)


def test_first_model_passes_on_absolute_thresholds_only(y):
    gate = GateSpec(metric="roc_auc", min_value=0.6)
    decision = evaluate_gate(gate, y, scores(y, 1.5, np.random.default_rng(2)))
    assert decision.passed and decision.decision == "pass" and decision.champion is None


def test_below_threshold_fails_with_the_number(y):
    gate = GateSpec(metric="roc_auc", min_value=0.95)
    decision = evaluate_gate(gate, y, scores(y, 0.5, np.random.default_rng(2)))
    assert not decision.passed
    assert decision.reasons[0].startswith("roc_auc=0.")
    assert "below min_value=0.95" in decision.reasons[0]


def test_clearly_better_challenger_passes_with_an_interval_above_zero(y):
    gate = GateSpec(metric="roc_auc", min_improvement=0.01)
    old = scores(y, 0.6, np.random.default_rng(3))
    new = scores(y, 1.4, np.random.default_rng(4))
    decision = evaluate_gate(gate, y, new, old, seed=7)
    assert decision.passed, decision.reasons
    assert decision.ci_low is not None and decision.ci_low > 0
    assert decision.improvement == pytest.approx(decision.challenger - decision.champion)


def test_worse_challenger_fails_on_improvement_and_interval(y):
    gate = GateSpec(metric="roc_auc")
    old = scores(y, 1.4, np.random.default_rng(3))
    new = scores(y, 0.6, np.random.default_rng(4))
    decision = evaluate_gate(gate, y, new, old, seed=7)
    assert not decision.passed
    assert any("below min_improvement" in r for r in decision.reasons)
    assert any("interval of the improvement" in r for r in decision.reasons)


def test_same_model_is_non_inferior_and_passes(y):
    gate = GateSpec(metric="roc_auc", max_regression=0.01)
    p = scores(y, 1.0, np.random.default_rng(3))
    decision = evaluate_gate(gate, y, p, p.copy(), seed=1)
    assert decision.passed
    assert decision.ci_low == pytest.approx(0) and decision.ci_high == pytest.approx(0)


def test_a_regressing_slice_fails_on_its_own(y):
    carrier = np.where(np.arange(N) % 4 == 0, "UA", "AA")
    old = scores(y, 1.0, np.random.default_rng(3))
    new = scores(y, 1.6, np.random.default_rng(4))
    ua = carrier == "UA"
    new[ua] = np.random.default_rng(9).random(ua.sum())  # useless on UA only
    gate = GateSpec(metric="roc_auc", slice_tolerance=0.05, min_improvement=-1, max_regression=1)
    slices = pd.DataFrame({"carrier": carrier})
    decision = evaluate_gate(gate, y, new, old, slices, seed=3)
    assert not decision.passed
    (reason,) = decision.reasons
    assert reason.startswith("slice carrier=UA (1000 rows): roc_auc 0.")
    assert {s.value: s.regressed for s in decision.slices} == {"AA": False, "UA": True}


def test_small_slices_are_not_judged(y):
    carrier = np.where(np.arange(N) < 20, "XX", "AA")
    p = scores(y, 1.0, np.random.default_rng(3))
    gate = GateSpec(metric="roc_auc", min_slice_rows=100)
    decision = evaluate_gate(gate, y, p, p, pd.DataFrame({"carrier": carrier}))
    assert [s.value for s in decision.slices] == ["AA"]


def test_too_small_holdout_decides_nothing(y):
    gate = GateSpec(metric="roc_auc", min_holdout_rows=N + 1)
    p = scores(y, 3.0, np.random.default_rng(3))
    decision = evaluate_gate(gate, y, p, p)
    assert decision.decision == "insufficient_sample" and not decision.passed
    assert decision.reasons == [
        f"holdout has {N} labelled rows, fewer than min_holdout_rows={N + 1}"
    ]


def test_regression_metrics_and_json_shape():
    rng = np.random.default_rng(0)
    y = rng.normal(size=1000)
    gate = GateSpec(metric="rmse", max_value=0.5)
    decision = evaluate_gate(gate, y, y + rng.normal(scale=0.2, size=1000), y + 1.0)
    assert decision.passed
    assert decision.improvement == pytest.approx(1.0 - decision.challenger, abs=0.05)
    assert set(decision.to_dict()) >= {"passed", "decision", "reasons", "ci_low", "slices"}
