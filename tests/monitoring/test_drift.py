"""Drift statistics from stored profiles against the exact full-data tests, the retrain
guardrails as a pure decision, and the spec's drift rules."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from pipelines.core.errors import SpecError
from pipelines.core.spec import DriftTestSpec, RetrainingSpec, parse_spec
from pipelines.monitoring import statistics as drift
from pipelines.monitoring.retrain import RetrainFacts, decide

pytestmark = pytest.mark.unit
RNG = np.random.default_rng(11)
REFERENCE = RNG.normal(size=200_000)


@pytest.fixture(scope="module")
def profile():
    return drift.numeric_profile(REFERENCE)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3, 1.0])
def test_ks_and_wasserstein_match_the_exact_tests(profile, shift):
    today = RNG.normal(loc=shift, scale=1.0 + shift / 2, size=300_000)
    counted = drift.numeric_today(profile, today)
    exact_ks = stats.ks_2samp(REFERENCE, today).statistic
    assert drift.score("ks", profile, counted) == pytest.approx(exact_ks, abs=2.5 / drift.GRID)
    exact_w = stats.wasserstein_distance(REFERENCE, today) / REFERENCE.std()
    assert drift.score("wasserstein", profile, counted) == pytest.approx(
        exact_w, rel=0.03, abs=2e-3
    )


def test_psi_equals_psi_on_the_reference_deciles(profile):
    today = RNG.normal(loc=0.4, size=100_000)
    edges = np.quantile(REFERENCE, np.linspace(0, 1, drift.PSI_BINS + 1))[1:-1]  # deciles
    p = np.bincount(np.searchsorted(edges, REFERENCE), minlength=10) / len(REFERENCE)
    q = np.bincount(np.searchsorted(edges, today), minlength=10) / len(today)
    exact = float(np.sum((q - p) * np.log(q / p)))
    assert drift.score("psi", profile, drift.numeric_today(profile, today)) == pytest.approx(exact)


def test_psi_on_tied_values_bins_at_the_deciles():
    """Hours: 24 values, deciles fall on ties; bins are ``x <= decile`` on both sides."""
    hours = RNG.integers(0, 24, size=50_000).astype("float64")
    later = np.minimum(RNG.integers(0, 24, size=50_000) + 2, 23).astype("float64")
    deciles = np.unique(np.quantile(hours, np.linspace(0, 1, 11)[1:-1]))
    p = np.bincount(np.searchsorted(deciles, hours), minlength=len(deciles) + 1) / 50_000
    q = np.bincount(np.searchsorted(deciles, later), minlength=len(deciles) + 1) / 50_000
    exact = float(np.sum((q - p) * np.log(q / p)))
    profile = drift.numeric_profile(hours)
    assert drift.score("psi", profile, drift.numeric_today(profile, later)) == pytest.approx(exact)


def test_values_beyond_the_reference_range_count_in_the_tails(profile):
    far = np.full(1000, REFERENCE.max() + 10.0)
    counted = drift.numeric_today(profile, far)
    assert counted["counts"][-1] == 1000 and counted["above"] > 0
    assert drift.score("ks", profile, counted) == pytest.approx(1.0)
    exact = stats.wasserstein_distance(REFERENCE, far) / REFERENCE.std()
    assert drift.score("wasserstein", profile, counted) == pytest.approx(exact, rel=0.01)


def test_nulls_are_counted_apart_and_all_null_has_no_score(profile):
    values = np.where(RNG.random(10_000) < 0.3, np.nan, RNG.normal(size=10_000))
    counted = drift.numeric_today(profile, values)
    assert sum(counted["counts"]) + counted["nulls"] == 10_000
    assert drift.null_share(counted) == pytest.approx(0.3, abs=0.02)
    empty = drift.numeric_today(profile, np.full(50, np.nan))
    assert np.isnan(drift.score("psi", profile, empty))
    assert drift.drifted(DriftTestSpec(test="psi"), drift.score("psi", profile, empty)) is False


def test_categorical_tests_match_scipy_and_new_categories_count():
    reference = pd.Series(RNG.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=50_000))
    today = pd.Series(RNG.choice(["a", "b", "c", "zz"], p=[0.3, 0.3, 0.2, 0.2], size=20_000))
    profile = drift.categorical_profile(reference)
    counted = drift.categorical_today(profile, today)
    assert counted["counts"][drift.NEW] == (today == "zz").sum()
    keys = ["a", "b", "c", drift.NEW]
    ref = np.array([(reference == k).sum() for k in keys[:3]] + [0], dtype=float)
    cur = np.array([(today == k).sum() for k in ["a", "b", "c", "zz"]], dtype=float)
    assert drift.score("jensenshannon", profile, counted) == pytest.approx(
        distance.jensenshannon(ref / ref.sum(), cur / cur.sum())
    )
    table = np.vstack([ref, cur])
    exact_p = stats.chi2_contingency(table, correction=False).pvalue
    assert drift.score("chisquare", profile, counted) == pytest.approx(exact_p)
    same = drift.categorical_today(profile, reference.sample(20_000, random_state=1))
    assert drift.score("chisquare", profile, same) > 0.01  # a p-value: high means no drift
    assert not drift.drifted(DriftTestSpec(test="chisquare"), 0.5)
    assert drift.drifted(DriftTestSpec(test="chisquare"), 1e-9)


def test_many_categories_keep_the_frequent_ones_and_fold_the_rest():
    values = pd.Series([f"k{i % 1500}" for i in range(30_000)] + ["k1"] * 100)
    profile = drift.categorical_profile(values)
    assert len(profile["counts"]) == drift.MAX_CATEGORIES + 1 and "k1" in profile["counts"]
    counted = drift.categorical_today(profile, pd.Series(["k1499", "unknown"]))
    assert drift.NEW not in counted["counts"] and sum(counted["counts"].values()) == 2


DAY = date(2013, 3, 10)
RULES = RetrainingSpec(cooldown_hours=48, min_new_labelled_rows=500, max_per_week=2)


def facts(**changes):
    base = {
        "last_trained": DAY - timedelta(days=5),
        "last_requested": None,
        "requests_last_week": 0,
        "new_labelled_rows": 5000,
    }
    return RetrainFacts(**(base | changes))


def test_a_trigger_retrains_when_no_guardrail_holds():
    decision = decide(RULES, "m", DAY, ["data drift: x"], facts())
    assert decision.retrain and decision.held_by == []
    assert decision.why == "retrain: data drift: x"
    assert decision.facts["last_trained"] == "2013-03-05"


def test_no_trigger_never_retrains_whatever_the_facts():
    decision = decide(RULES, "m", DAY, [], facts(new_labelled_rows=0))
    assert not decision.retrain and decision.held_by == []


@pytest.mark.parametrize(
    ("changes", "held"),
    [
        ({"last_trained": DAY - timedelta(days=1)}, "cooldown: 24 h since the last retrain"),
        ({"last_requested": DAY - timedelta(days=1)}, "cooldown: 24 h"),
        ({"new_labelled_rows": 499}, "only 499 new labelled rows"),
        ({"requests_last_week": 2}, "2 retrains requested in the last 7 days (cap 2)"),
    ],
)
def test_each_guardrail_holds_on_its_own(changes, held):
    decision = decide(RULES, "m", DAY, ["decay"], facts(**changes))
    assert not decision.retrain
    assert len(decision.held_by) == 1 and decision.held_by[0].startswith(held)


def spec_data(drift_rules):

    from tests.conftest import steady_synthetic

    data = steady_synthetic()
    data["drift"] = drift_rules
    return data


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"numeric": {"test": "chisquare"}}, "'chisquare' is not a numeric test"),
        ({"categorical": {"test": "ks"}}, "'ks' is not a categorical test"),
        ({"columns": {"nope": {"test": "psi"}}}, "drift.columns.nope: not a declared feature"),
        (
            {"columns": {"cat_0": {"test": "wasserstein"}}},
            "drift.columns.cat_0: 'wasserstein' does not apply to a categorical column",
        ),
        ({"numeric": {"test": "psi", "threshold": -1}}, "drift.numeric.threshold"),
        ({"threshold": 0.2}, "drift.threshold: unknown field"),
    ],
)
def test_bad_drift_rules_name_the_field(rules, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        parse_spec(spec_data(rules), "m.yaml")


def test_default_thresholds_follow_the_test():
    spec = parse_spec(spec_data({"columns": {"num_0": {"test": "ks"}}}), "m.yaml")
    numeric = next(f for f in spec.features if f.name == "num_0")
    assert spec.drift_test(numeric).limit == 0.1
    assert spec.drift.prediction.limit == 0.2 and spec.drift.categorical.limit == 0.1


@pytest.mark.parametrize(
    ("policy", "drifted", "made_days_ago", "drifted_before", "skipped"),
    [
        ("always", False, None, False, False),
        ("on_drift", True, None, False, False),
        ("on_drift", False, None, False, True),
        ("weekly", False, None, False, False),  # no report yet: make one
        ("weekly", False, 3, False, True),  # one this week already
        ("weekly", False, 7, False, False),  # the last one is a week old
        ("weekly", True, 1, False, False),  # a drift starts: report it
        ("weekly", True, 1, True, True),  # the same drift, reported this week
        ("weekly", True, 7, True, False),  # a long drift, reported once a week
    ],
)
def test_the_evidently_report_policy(
    lake, synthetic_spec, policy, drifted, made_days_ago, drifted_before, skipped
):
    from datetime import date, timedelta

    from pipelines.core.layout import drift_result, evidently_report
    from pipelines.monitoring.evidently_report import report_skipped

    drift = synthetic_spec.drift.model_copy(update={"report": policy})
    spec = synthetic_spec.model_copy(update={"drift": drift})
    day = date(2013, 1, 20)
    if made_days_ago is not None:
        lake.write_bytes(b"<html>", evidently_report(spec.name, day - timedelta(made_days_ago)))
    lake.write_json({"drifted": drifted_before}, drift_result(spec.name, day - timedelta(1)))
    reason = report_skipped(lake, spec, day, drifted)
    assert bool(reason) is skipped, reason


def test_the_evidently_report_leaves_out_a_column_with_no_value_that_day(synthetic_spec):
    """A day whose column is all null (2013's flights have days without a wind gust): the
    report is made without that column (Evidently refuses an empty one) and says which."""
    from pipelines.monitoring.evidently_report import build_report, reportable_columns
    from pipelines.sources.synthetic import generate_day

    options = synthetic_spec.source.options
    reference = generate_day(options, "regression", date(2013, 1, 1)).drop(columns="target")
    current = generate_day(options, "regression", date(2013, 1, 2)).drop(columns="target")
    current["num_3"] = np.nan
    columns, empty = reportable_columns(synthetic_spec, reference, current)
    assert empty == ["num_3"] and "num_3" not in columns and "num_2" in columns
    snapshot = build_report(synthetic_spec, reference, current)
    assert "num_3" not in snapshot.json() and "num_2" in snapshot.json()
