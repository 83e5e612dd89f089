"""The whole model spec: its sections, consistency across them, and loading it from YAML.

A bad spec raises one ``SpecError`` naming the file and every bad field path, e.g.
``include/models/x.yaml: features[3].type: Input should be 'numeric', ...``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, model_validator

from pipelines.core.errors import SpecError
from pipelines.core.spec.base import NAME_PATTERN, Strict
from pipelines.core.spec.data import (
    LEAKY_COLUMNS,
    FeatureSpec,
    FeatureType,
    LabelSpec,
    SourceSpec,
    ValidationSpec,
)
from pipelines.core.spec.execution import ExecutionSpec
from pipelines.core.spec.lifecycle import (
    CATEGORICAL_TESTS,
    NUMERIC_TESTS,
    DriftSpec,
    DriftTestSpec,
    GateSpec,
    PerformanceSpec,
    PromotionSpec,
    RetrainingSpec,
    RetriesSpec,
    SchedulesSpec,
    ScoringSpec,
    TrainingSpec,
)


class ModelSpec(Strict):
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
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    retries: RetriesSpec = Field(default_factory=RetriesSpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)

    @model_validator(mode="after")
    def _columns_are_consistent(self) -> ModelSpec:
        problems = [
            *self._feature_problems(),
            *self._section_problems(),
            *self._task_problems(),
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _feature_problems(self) -> Iterator[str]:
        """Each feature once, never the label, the key, the timestamp or a leaky column."""
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

    def _section_problems(self) -> Iterator[str]:
        """Column names in other sections must be declared features, with fitting settings."""
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
            if column not in self.feature_names:
                yield f"slices[{i}]: {column!r} is not a declared feature"

    def _task_problems(self) -> Iterator[str]:
        """The algorithm and the gate metric must fit the label's task."""
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
