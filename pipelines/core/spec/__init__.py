"""Typed model specs: ``include/models/<name>.yaml`` validated into a frozen pydantic model.

The sections live in ``data`` (source, label, features, validation contract), ``lifecycle``
(training, gates, drift, performance, retraining, promotion, schedules, retries) and
``execution`` (pods); ``model_spec`` puts them together and loads files. Import from here.
This package is imported at DAG parse time: it stays light (pydantic, yaml and croniter).
"""

from pipelines.core.spec.base import NAME_PATTERN
from pipelines.core.spec.data import (
    ALWAYS_BLOCK,
    LEAKY_COLUMNS,
    ROW_CHECKS,
    TABLE_CHECKS,
    ColumnRule,
    DriftEvent,
    FeatureSpec,
    FeatureType,
    FlightsSourceSpec,
    LabelSpec,
    LakeSourceSpec,
    LearnedChecksSpec,
    Severity,
    SyntheticOptions,
    SyntheticSourceSpec,
    ValidationSpec,
)
from pipelines.core.spec.execution import ExecutionSpec, ResourcesSpec, SecretRef, Toleration
from pipelines.core.spec.lifecycle import (
    CATEGORICAL_TESTS,
    DEFAULT_THRESHOLDS,
    NUMERIC_TESTS,
    Algorithm,
    DriftSpec,
    DriftTestSpec,
    GateSpec,
    PerformanceSpec,
    PromotionSpec,
    PromotionWindow,
    RetrainingSpec,
    RetriesSpec,
    SchedulesSpec,
    TrainingSpec,
)
from pipelines.core.spec.model_spec import (
    TRAINING_OVERRIDES,
    ModelSpec,
    load_spec,
    load_specs,
    parse_spec,
    training_overrides_schema,
    with_training_overrides,
)

__all__ = [
    "ALWAYS_BLOCK",
    "CATEGORICAL_TESTS",
    "DEFAULT_THRESHOLDS",
    "LEAKY_COLUMNS",
    "NAME_PATTERN",
    "NUMERIC_TESTS",
    "ROW_CHECKS",
    "TABLE_CHECKS",
    "TRAINING_OVERRIDES",
    "Algorithm",
    "ColumnRule",
    "DriftEvent",
    "DriftSpec",
    "DriftTestSpec",
    "ExecutionSpec",
    "FeatureSpec",
    "FeatureType",
    "FlightsSourceSpec",
    "GateSpec",
    "LabelSpec",
    "LakeSourceSpec",
    "LearnedChecksSpec",
    "ModelSpec",
    "PerformanceSpec",
    "PromotionSpec",
    "PromotionWindow",
    "ResourcesSpec",
    "RetrainingSpec",
    "RetriesSpec",
    "SchedulesSpec",
    "SecretRef",
    "Severity",
    "SyntheticOptions",
    "SyntheticSourceSpec",
    "Toleration",
    "TrainingSpec",
    "ValidationSpec",
    "load_spec",
    "load_specs",
    "parse_spec",
    "training_overrides_schema",
    "with_training_overrides",
]
