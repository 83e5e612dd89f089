"""The data contract as a list of checks, built from the spec for one delivered partition.

A check is data: a stable reason code, a severity, and the Great Expectations expectation
that tests it (class name + kwargs). ``expectations.py`` runs them through GX. Row-level
checks also know how to name their failing rows (``failing_rows``), which GX only lists in its
slow COMPLETE result format; a test keeps both counts equal.

Column types are checked here from the Arrow schema of the file (exact, and free: no data is
read), because GX's pandas type check cannot name timezone-aware or Arrow-backed dtypes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pipelines.core.calendar import utc_window
from pipelines.core.spec import ModelSpec, Severity
from pipelines.sources import Family

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

Role = Literal["batch", "labels"]

# Expectations whose failures are rows (so they can be dropped) and how to find them.
ROW_EXPECTATIONS = frozenset(
    {
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToBeUnique",
        "ExpectColumnValuesToBeBetween",
        "ExpectColumnValuesToBeInSet",
    }
)


@dataclass(frozen=True)
class Check:
    """One expectation of the contract and what failing it means."""

    code: str
    severity: Severity
    expectation: str  # a class in great_expectations.expectations
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def row_level(self) -> bool:
        return self.expectation in ROW_EXPECTATIONS and "mostly" not in self.kwargs


def family_matches(family: Family, arrow_type: pa.DataType) -> bool:
    """Whether a stored Arrow type can hold a column of this family."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    integer, floating = pa.types.is_integer(t), pa.types.is_floating(t) or pa.types.is_decimal(t)
    text = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    boolean = pa.types.is_boolean(t)
    if family == "key":
        return integer or text
    if family == "timestamp":
        return pa.types.is_timestamp(t) or pa.types.is_date(t)
    if family == "numeric":
        return integer or floating
    if family == "categorical":
        return text or integer or boolean
    if family == "boolean":
        return boolean or integer
    return integer or floating or boolean  # label


def type_problems(expected: dict[str, Family], schema: pa.Schema) -> dict[str, str]:
    """Columns present with a type their family cannot hold: ``{column: observed type}``."""
    found = {name: schema.field(name).type for name in schema.names}
    return {
        column: str(found[column])
        for column, family in expected.items()
        if column in found and not family_matches(family, found[column])
    }


def batch_checks(
    spec: ModelSpec,
    expected: dict[str, Family],
    usable: set[str],
    day: date,
    now: datetime,
    learned: dict[str, Any] | None = None,
) -> list[Check]:
    """Checks of one delivered batch of day D. ``usable`` are the columns present with the
    right type: value checks only run on those (a wrong column is already a schema failure)."""
    v = spec.validation
    start, end = utc_window(day, spec.schedules.timezone)
    key, ts = spec.entity_key, spec.timestamp
    checks = [*_table_checks(spec, expected)]
    if key in usable:
        checks += [
            _check(spec, "null_key", "ExpectColumnValuesToNotBeNull", column=key),
            _check(spec, "duplicate_key", "ExpectColumnValuesToBeUnique", column=key),
        ]
    if ts in usable:
        ts_kwargs = {"column": ts}
        checks += [
            _check(spec, "null_timestamp", "ExpectColumnValuesToNotBeNull", **ts_kwargs),
            _check(
                spec,
                "timestamp_outside_partition",
                "ExpectColumnValuesToBeBetween",
                min_value=start,
                max_value=end,
                strict_max=True,
                **ts_kwargs,
            ),
            _check(
                spec,
                "timestamp_in_future",
                "ExpectColumnValuesToBeBetween",
                max_value=now,
                **ts_kwargs,
            ),
            _check(spec, "stale_batch", "ExpectColumnMaxToBeBetween", min_value=start, **ts_kwargs),
        ]
    for column in sorted(usable - {key, ts}):
        checks += list(_column_checks(spec, column, expected[column]))
    if learned and v.learned.enabled:
        checks += list(_learned_checks(spec, usable, learned))
    return checks


def label_checks(spec: ModelSpec, expected: dict[str, Family], usable: set[str]) -> list[Check]:
    """Checks of one delivered labels partition (key + label)."""
    key, label = spec.entity_key, spec.label.name
    checks = [*_table_checks(spec, expected, labels=True)]
    if key in usable:
        checks += [
            _check(spec, "null_key", "ExpectColumnValuesToNotBeNull", column=key),
            _check(spec, "duplicate_key", "ExpectColumnValuesToBeUnique", column=key),
        ]
    if label in usable:
        checks.append(_check(spec, "null_label", "ExpectColumnValuesToNotBeNull", column=label))
        rule = spec.validation.columns.get(label)
        if spec.label.task == "binary":
            checks.append(
                _check(
                    spec,
                    "label_out_of_domain",
                    "ExpectColumnValuesToBeInSet",
                    column=label,
                    value_set=[0, 1],
                )
            )
        elif rule is not None and (rule.min is not None or rule.max is not None):
            checks.append(
                _check(
                    spec,
                    "label_out_of_domain",
                    "ExpectColumnValuesToBeBetween",
                    column=label,
                    min_value=rule.min,
                    max_value=rule.max,
                )
            )
    return checks


def _table_checks(
    spec: ModelSpec, expected: dict[str, Family], labels: bool = False
) -> Iterator[Check]:
    """Column set and row count (labels may arrive in part: only "not empty" for them)."""
    v = spec.validation
    yield _check(
        spec,
        "missing_column",  # missing / extra / renamed are told apart from GX's mismatch details
        "ExpectTableColumnsToMatchSet",
        column_set=sorted(expected),
        exact_match=True,
    )
    low, high = (1, None) if labels else (v.min_rows, v.max_rows)
    yield _check(spec, "row_count", "ExpectTableRowCountToBeBetween", min_value=low, max_value=high)


def _column_checks(spec: ModelSpec, column: str, family: Family) -> Iterator[Check]:
    v = spec.validation
    rule = v.columns.get(column)
    is_feature = column in spec.feature_names
    null_share = rule.max_null_share if rule and rule.max_null_share is not None else None
    if null_share is None and is_feature:
        null_share = v.max_null_share
    if null_share is not None:
        yield _check(
            spec,
            "null_share",
            "ExpectColumnValuesToNotBeNull",
            column=column,
            mostly=round(1.0 - null_share, 10),
        )
    if rule is None:
        return
    if family == "numeric" and (rule.min is not None or rule.max is not None):
        yield _check(
            spec,
            "out_of_range",
            "ExpectColumnValuesToBeBetween",
            column=column,
            min_value=rule.min,
            max_value=rule.max,
        )
    if rule.domain is not None:
        yield _check(
            spec,
            "unseen_category",
            "ExpectColumnValuesToBeInSet",
            column=column,
            value_set=list(rule.domain),
        )


def _learned_checks(spec: ModelSpec, usable: set[str], learned: dict[str, Any]) -> Iterator[Check]:
    tolerance = spec.validation.learned.tolerance
    for column, stats in sorted(learned.get("columns", {}).items()):
        if column not in usable:
            continue
        if "min" in stats and "max" in stats:
            span = (stats["max"] - stats["min"]) or abs(stats["max"]) or 1.0
            yield _check(
                spec,
                "learned_out_of_range",
                "ExpectColumnValuesToBeBetween",
                column=column,
                min_value=stats["min"] - tolerance * span,
                max_value=stats["max"] + tolerance * span,
            )
        if "categories" in stats:
            yield _check(
                spec,
                "learned_unseen_category",
                "ExpectColumnValuesToBeInSet",
                column=column,
                value_set=list(stats["categories"]),
            )


def _check(spec: ModelSpec, code: str, expectation: str, **kwargs: Any) -> Check:
    kwargs = {k: value for k, value in kwargs.items() if value is not None}
    return Check(
        code=code,
        severity=spec.validation.severity_of(code),
        expectation=expectation,
        kwargs=kwargs,
        description=_describe(code, kwargs),
    )


def _describe(code: str, kwargs: dict[str, Any]) -> str:
    column = kwargs.get("column", "")
    bounds = f"[{kwargs.get('min_value', '-inf')}, {kwargs.get('max_value', 'inf')}]"
    texts = {
        "missing_column": "the columns are exactly the contract's",
        "row_count": f"row count within {bounds}",
        "null_key": f"{column} is never null",
        "null_timestamp": f"{column} is never null",
        "null_label": f"label {column} is never null",
        "duplicate_key": f"{column} is unique",
        "null_share": f"{column} is null in at most {1 - kwargs.get('mostly', 1):.1%} of rows",
        "out_of_range": f"{column} within {bounds}",
        "learned_out_of_range": f"{column} within the training range {bounds}",
        "unseen_category": f"{column} in its declared domain",
        "learned_unseen_category": f"{column} in the categories seen in training",
        "label_out_of_domain": f"label {column} in its domain",
        "timestamp_outside_partition": f"{column} on the partition date {bounds}",
        "timestamp_in_future": f"{column} not after the validation time",
        "stale_batch": f"newest {column} on the partition date",
    }
    return texts.get(code, code)


def failing_rows(check: Check, frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows a row-level check rejects (same rule as the GX expectation:
    nulls fail only the not-null check)."""
    import numpy as np

    column = frame[check.kwargs["column"]]
    kind = check.expectation
    if kind == "ExpectColumnValuesToNotBeNull":
        return column.isna().to_numpy()
    present = column.notna().to_numpy()
    if kind == "ExpectColumnValuesToBeUnique":
        return column.duplicated(keep=False).to_numpy() & present
    if kind == "ExpectColumnValuesToBeInSet":
        allowed = check.kwargs["value_set"]
        return ~column.isin(allowed).to_numpy() & present
    bad = np.zeros(len(frame), dtype=bool)
    low, high = check.kwargs.get("min_value"), check.kwargs.get("max_value")
    if low is not None:
        bad |= (column < low).fillna(False).to_numpy(dtype=bool)
    if high is not None:
        over = column >= high if check.kwargs.get("strict_max") else column > high
        bad |= over.fillna(False).to_numpy(dtype=bool)
    return bad & present
