"""How a model lives: training, the gate, drift and live performance, retraining, promotion,
schedules and retries."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from pipelines.core.calendar import is_timezone
from pipelines.core.spec.base import Strict

Algorithm = Literal["lightgbm", "sklearn_hgb", "sklearn_logreg", "torch_mlp"]


class TrainingSpec(Strict):
    """Algorithm, hyperparameters and the time window trained on."""

    algorithm: Algorithm = "lightgbm"
    params: dict[str, Any] = Field(default_factory=dict)
    window_days: Annotated[int, Field(ge=1, le=3650)] = 28
    validation_days: Annotated[int, Field(ge=1, le=365)] = 1
    holdout_days: Annotated[int, Field(ge=1, le=365)] = 1
    min_rows: Annotated[int, Field(ge=1)] = 100
    num_boost_round: Annotated[int, Field(ge=1, le=100_000)] = 200
    early_stopping_rounds: Annotated[int, Field(ge=1, le=10_000)] = 20
    seed: int = 42


class GateSpec(Strict):
    """How a new model is judged on the holdout, alone and against the champion.

    Passes when the absolute thresholds hold, the holdout has at least ``min_holdout_rows``,
    the improvement over the champion is at least ``min_improvement``, the paired bootstrap
    interval of that improvement stays above ``-max_regression``, and no slice regresses by
    more than ``slice_tolerance`` (see pipelines/training/gate.py).
    """

    metric: Literal["roc_auc", "log_loss", "rmse", "mae"]
    min_value: float | None = None
    max_value: float | None = None
    min_improvement: float = 0.0
    max_regression: Annotated[float, Field(ge=0)] = 0.01
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    bootstrap_samples: Annotated[int, Field(ge=100, le=10_000)] = 500
    min_holdout_rows: Annotated[int, Field(ge=1)] = 200
    slice_tolerance: Annotated[float, Field(ge=0)] = 0.05
    min_slice_rows: Annotated[int, Field(ge=1)] = 100


DriftTest = Literal["psi", "ks", "wasserstein", "jensenshannon", "chisquare"]
NUMERIC_TESTS = ("psi", "ks", "wasserstein")
CATEGORICAL_TESTS = ("psi", "jensenshannon", "chisquare")
# Scores at or above the threshold are drift, except chisquare: a p-value, drift below it.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "psi": 0.2,
    "ks": 0.1,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "chisquare": 0.05,
}


class DriftTestSpec(Strict):
    """One drift test and its threshold (the test's default when left out)."""

    test: DriftTest
    threshold: Annotated[float, Field(gt=0)] | None = None

    @property
    def limit(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.test]


class DriftSpec(Strict):
    """How the monitoring DAG judges a day against the serving version's reference profile.

    ``numeric`` / ``categorical`` name the test per column type (``columns`` overrides one
    column), ``prediction`` the test on the model's outputs. Scores are distances on the whole
    day (psi, ks statistic, normed wasserstein, jensen-shannon), except ``chisquare``, a p-value.
    A column's missing-value drift is a rise of its null share above ``max_null_share_increase``.
    The data counts as drifted when ``share_of_drifted_columns`` of the features drift.
    Evidently's report (on ``report_rows`` rows) is made ``always``, only ``on_drift`` (data,
    prediction drift or decay), or ``weekly`` (on the first day of a drift, and otherwise once
    in 7 days); the verdicts that trigger anything never wait for it.
    """

    numeric: DriftTestSpec = DriftTestSpec(test="psi")
    categorical: DriftTestSpec = DriftTestSpec(test="jensenshannon")
    columns: dict[str, DriftTestSpec] = Field(default_factory=dict)
    prediction: DriftTestSpec = DriftTestSpec(test="psi")
    max_null_share_increase: Annotated[float, Field(gt=0, le=1)] = 0.05
    share_of_drifted_columns: Annotated[float, Field(gt=0, le=1)] = 0.3
    window_days: Annotated[int, Field(ge=1, le=90)] = 1
    reference_rows: Annotated[int, Field(ge=1000)] = 1_000_000
    report_rows: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000
    report: Literal["always", "on_drift", "weekly"] = "always"

    @field_validator("numeric")
    @classmethod
    def _numeric_test(cls, value: DriftTestSpec) -> DriftTestSpec:
        if value.test not in NUMERIC_TESTS:
            raise ValueError(f"{value.test!r} is not a numeric test; use one of {NUMERIC_TESTS}")
        return value

    @field_validator("categorical")
    @classmethod
    def _categorical_test(cls, value: DriftTestSpec) -> DriftTestSpec:
        if value.test not in CATEGORICAL_TESTS:
            raise ValueError(
                f"{value.test!r} is not a categorical test; use one of {CATEGORICAL_TESTS}"
            )
        return value


class PerformanceSpec(Strict):
    """Live performance once labels arrive: decay is a drop of the gate metric below the
    version's holdout value by more than ``max_drop``, on at least ``min_labelled_rows``."""

    max_drop: Annotated[float, Field(gt=0)] = 0.05
    min_labelled_rows: Annotated[int, Field(ge=1)] = 200


class RetrainingSpec(Strict):
    """When monitoring may start a retrain, and the guardrails against retraining on noise.

    ``nightly: false`` keeps the nightly ingest/validate/features but trains only when the
    monitoring DAG asks (or with no champion yet, or on a manual run).
    """

    nightly: bool = True
    on_data_drift: bool = True
    on_prediction_drift: bool = True
    on_decay: bool = True
    cooldown_hours: Annotated[float, Field(ge=0)] = 24
    min_new_labelled_rows: Annotated[int, Field(ge=0)] = 1000
    max_per_week: Annotated[int, Field(ge=1)] = 2


def _check_timezone(value: str) -> str:
    if not is_timezone(value):
        raise ValueError(f"unknown timezone {value!r}; use an IANA name such as 'UTC'")
    return value


class PromotionWindow(Strict):
    """When promotion steps may happen: opens at each ``cron`` time for ``hours`` hours."""

    cron: str
    hours: Annotated[float, Field(gt=0, le=24 * 7)]
    timezone: str = "UTC"

    _timezone = field_validator("timezone")(_check_timezone)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value


class PromotionSpec(Strict):
    """How a challenger that passed the gates becomes champion (see DESIGN.md).

    ``replace`` promotes at once; ``stepwise`` serves the challenger to a growing share of
    scored rows (``steps`` in percent) and advances one step per promotion run when its live
    loss on labelled rows is not worse than the champion's (a one-sided test at
    ``confidence``, margin ``max_regression``), holds while evidence is short, and rolls back
    when it is worse. ``window``, ``freeze_dates``, ``soak_hours`` and ``approval_steps``
    compose with both; ``scheduled`` is ``replace`` that needs a ``window``, ``manual`` is
    ``replace`` with approval before 100%.
    """

    strategy: Literal["replace", "stepwise", "scheduled", "manual"] = "replace"
    steps: list[Annotated[int, Field(gt=0, le=100)]] | None = None
    min_labelled_rows: Annotated[int, Field(ge=1)] = 200
    soak_hours: Annotated[float, Field(ge=0)] = 0
    max_regression: Annotated[float, Field(ge=0)] = 0.0
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    window: PromotionWindow | None = None
    freeze_dates: list[date] = Field(default_factory=list)
    approval_steps: list[Annotated[int, Field(gt=0, le=100)]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PromotionSpec:
        steps = self.steps
        if steps is not None and self.strategy != "stepwise":
            raise ValueError(f"steps only apply to strategy 'stepwise', not {self.strategy!r}")
        if steps is not None and (steps != sorted(set(steps)) or steps[-1] != 100):
            raise ValueError(f"steps must increase and end at 100, got {steps}")
        if self.strategy == "scheduled" and self.window is None:
            raise ValueError("strategy 'scheduled' needs a window")
        unknown = set(self.approval_steps or []) - set(self.percent_steps)
        if unknown:
            raise ValueError(f"approval_steps {sorted(unknown)} are not among the steps")
        return self

    @property
    def percent_steps(self) -> list[int]:
        """The traffic shares in percent, ending at 100 (``[100]`` unless stepwise)."""
        if self.strategy == "stepwise":
            return self.steps or [10, 25, 50, 100]
        return [100]

    @property
    def approvals(self) -> set[int]:
        """Steps (percent) that wait for a person: ``manual`` means 100 unless listed."""
        if self.approval_steps is not None:
            return set(self.approval_steps)
        return {100} if self.strategy == "manual" else set()


def _check_cron(value: str | None) -> str | None:
    presets = {"@daily", "@hourly", "@weekly"}
    if value is not None and value not in presets and not croniter.is_valid(value):
        raise ValueError(f"not a valid cron expression: {value!r}")
    return value


class SchedulesSpec(Strict):
    """When each of the model's DAGs runs (cron, in ``timezone``, an IANA name such as
    ``America/New_York``). ``end_date``: the last night the nightly schedule runs (a retired
    model, or a replay of history that must not reach today); requests and manual runs are
    not bound by it."""

    start_date: date
    end_date: date | None = None
    timezone: str = "UTC"
    training: str = "0 3 * * *"
    scoring: str | None = None
    monitoring: str | None = None
    promotion: str | None = None

    _crons = field_validator("training", "scoring", "monitoring", "promotion")(_check_cron)
    _timezone = field_validator("timezone")(_check_timezone)

    @model_validator(mode="after")
    def _end_after_start(self) -> SchedulesSpec:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self


class ScoringSpec(Strict):
    """Batch scoring. When a model gets its first champion, the next scoring run also scores
    the days it could not score for want of one (their runs came first), from
    ``catch_up_days`` before the first champion's day to that day; 0 turns this off."""

    catch_up_days: Annotated[int, Field(ge=0, le=365)] = 14


class RetriesSpec(Strict):
    """How often a failed task of the model's DAGs is retried, and after how long (doubling
    up to ``max_delay_minutes``). Only transient errors retry; bad input fails at once."""

    count: Annotated[int, Field(ge=0, le=10)] = 2
    delay_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    max_delay_minutes: Annotated[int, Field(ge=1, le=1440)] = 10
