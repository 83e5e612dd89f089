"""Judging one delivered table against the contract: which checks failed, with what counts,
which rows to drop (and why), and the verdict. Pure over the table and the spec: nothing is
read from or written to the lake here (pipelines/validation/run.py does that)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipelines.core.errors import SpecError
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import to_frame
from pipelines.sources import Family, get_source, label_schema
from pipelines.validation.checks import (
    Check,
    Role,
    batch_checks,
    failing_rows,
    label_checks,
    type_problems,
)
from pipelines.validation.expectations import run_expectations
from pipelines.validation.results import CheckResult, Evaluation, Status

if TYPE_CHECKING:
    from datetime import date

    import numpy as np
    import pandas as pd
    import pyarrow as pa


def expected_schema(spec: ModelSpec, role: Role) -> dict[str, Family]:
    return get_source(spec).raw_schema(spec) if role == "batch" else label_schema(spec)


def evaluate(
    spec: ModelSpec,
    table: pa.Table,
    role: Role,
    day: date,
    now: datetime | None = None,
    learned: dict[str, Any] | None = None,
    batch_for_leakage: pd.DataFrame | None = None,
) -> Evaluation:
    """Run the contract on one delivered table; ``table`` is consumed (converted in place)."""
    now = now or datetime.now(UTC)
    expected = expected_schema(spec, role)
    _check_rule_columns(spec)
    wrong_types = type_problems(expected, table.schema)
    usable = {c for c in expected if c in table.schema.names and c not in wrong_types}
    results = [_type_result(spec, column, observed) for column, observed in wrong_types.items()]
    results += [_type_result(spec, c, None) for c in expected if c in usable]
    rows = table.num_rows
    frame = to_frame(table)  # one conversion, no second full copy
    del table
    if role == "batch":
        checks = batch_checks(spec, expected, usable, day, now, learned)
    else:
        checks = label_checks(spec, expected, usable)
    outcomes = run_expectations(frame, checks)
    for check, outcome in zip(checks, outcomes, strict=True):
        results += _interpret(spec, check, outcome)
    if role == "labels" and batch_for_leakage is not None and spec.label.name in usable:
        results += leakage_results(spec, frame, batch_for_leakage)
    droppable = [
        check
        for check, outcome in zip(checks, outcomes, strict=True)
        if check.severity == "drop_rows"
        and check.row_level
        and not outcome["success"]
        and not outcome["error"]
    ]
    drop_mask, drop_reasons, too_many = _rows_to_drop(spec, droppable, frame)
    if too_many is not None:
        results.append(too_many)
    return Evaluation(
        status=_status(results),
        rows=rows,
        checks=results,
        drop_mask=drop_mask,
        drop_reasons=drop_reasons,
        frame=frame,
    )


def _check_rule_columns(spec: ModelSpec) -> None:
    """A rule for a column no delivery has is a typo in the spec: say so, do not ignore it."""
    known = set(expected_schema(spec, "batch")) | set(expected_schema(spec, "labels"))
    unknown = sorted(set(spec.validation.columns) - known)
    if unknown:
        raise SpecError(
            f"model {spec.name!r}: validation.columns names {unknown}, which no delivery of "
            f"source {spec.source.kind!r} has; known columns: {sorted(known)}"
        )


def _type_result(spec: ModelSpec, column: str, observed: str | None) -> CheckResult:
    """A type check from the Arrow schema: ``observed`` is the wrong type, None when right."""
    return CheckResult(
        code="type_mismatch",
        severity=spec.validation.severity_of("type_mismatch"),
        success=observed is None,
        description=f"{column} has the contract's type",
        column=column,
        engine="arrow_schema",
        observed=observed,
        detail=f"stored as {observed}" if observed else "",
    )


def _interpret(spec: ModelSpec, check: Check, outcome: dict[str, Any]) -> list[CheckResult]:
    result = outcome["result"]
    base = CheckResult(
        code=check.code,
        severity=check.severity,
        success=outcome["success"],
        description=check.description,
        column=check.column,
        expectation=check.expectation,
        unexpected_count=result.get("unexpected_count"),
        observed=_small(result.get("observed_value")),
        detail=_detail(check, result, outcome["error"]),
    )
    if check.expectation != "ExpectTableColumnsToMatchSet" or outcome["success"]:
        return [base]
    mismatch = result.get("details", {}).get("mismatched", {})
    return _column_set_results(spec, mismatch.get("missing", []), mismatch.get("unexpected", []))


def _column_set_results(spec: ModelSpec, missing: list[str], extra: list[str]) -> list[CheckResult]:
    """Missing + extra columns, told apart; one missing and one extra is read as a rename."""
    out = []

    def failure(code: str, column: str, detail: str) -> CheckResult:
        return CheckResult(
            code=code,
            severity=spec.validation.severity_of(code),
            success=False,
            description="the columns are exactly the contract's",
            column=column,
            expectation="ExpectTableColumnsToMatchSet",
            detail=detail,
        )

    missing, extra = sorted(missing), sorted(extra)
    while missing and extra and len(missing) == len(extra):
        old, new = missing.pop(0), extra.pop(0)
        out.append(failure("renamed_column", old, f"{old!r} is missing and {new!r} is new"))
    out += [failure("missing_column", c, f"{c!r} is not in the file") for c in missing]
    out += [failure("extra_column", c, f"{c!r} is not in the contract") for c in extra]
    return out


def _detail(check: Check, result: dict[str, Any], error: str | None) -> str:
    if error:
        return f"could not evaluate: {error.splitlines()[0]}"
    if "unexpected_count" in result and result.get("unexpected_count"):
        sample = result.get("partial_unexpected_list") or []
        return f"{result['unexpected_percent']:.2f}% of rows, e.g. {_small(sample[:5])}"
    if "observed_value" in result:
        return f"observed {_small(result['observed_value'])}"
    return ""


def _small(value: Any) -> Any:
    """Values safe and short enough for JSON reports and tags."""
    if isinstance(value, list):
        return [_small(v) for v in value[:20]]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value else None
    return str(value)


def leakage_results(
    spec: ModelSpec, labels: pd.DataFrame, batch: pd.DataFrame
) -> list[CheckResult]:
    """A feature that equals the label on (almost) every row leaks it: block the labels."""
    import numpy as np
    import pandas as pd

    key, label = spec.entity_key, spec.label.name
    candidates = [
        f.name
        for f in spec.features
        if f.type in ("numeric", "boolean") and f.name in batch.columns
    ]
    # Rows matched by key positions, one feature column at a time (a merge copied them all).
    batch = batch if batch[key].is_unique else batch.drop_duplicates(key)
    position = pd.Index(batch[key]).get_indexer(labels[key])
    found = position >= 0
    truth = labels[label].to_numpy(dtype=float, na_value=np.nan)[found]
    results = []
    for column in candidates:
        values = batch[column].to_numpy(dtype=float, na_value=np.nan)[position[found]]
        both = ~(np.isnan(values) | np.isnan(truth))
        if not both.any():
            continue
        same = np.isclose(values[both], truth[both])
        agreement = float(same.mean())
        leaked = agreement >= spec.validation.leakage_agreement
        results.append(
            CheckResult(
                code="feature_equals_label",
                severity=spec.validation.severity_of("feature_equals_label"),
                success=not leaked,
                description=f"feature {column} is not a copy of the label",
                column=column,
                engine="leakage",
                observed=round(agreement, 6),
                detail=f"equals {label} on {agreement:.2%} of {int(both.sum())} rows"
                if leaked
                else "",
            )
        )
    return results


def _rows_to_drop(
    spec: ModelSpec, failed: list[Check], frame: pd.DataFrame
) -> tuple[np.ndarray | None, np.ndarray | None, CheckResult | None]:
    """The rows failing ``drop_rows`` checks and their reason codes, or the failed check that
    blocks the batch when more than ``max_drop_share`` of it would go."""
    import numpy as np

    if not failed or len(frame) == 0:
        return None, None, None
    masks = [(check.code, failing_rows(check, frame)) for check in failed]
    drop = np.logical_or.reduce([mask for _, mask in masks])
    share = float(drop.mean())
    limit = spec.validation.max_drop_share
    if share > limit:
        codes = ", ".join(sorted({code for code, _ in masks}))
        return (
            None,
            None,
            CheckResult(
                code="too_many_rows_dropped",
                severity="block",
                success=False,
                description=f"at most {limit:.1%} of rows fail row-level checks",
                engine="drop_limit",
                unexpected_count=int(drop.sum()),
                observed=round(share, 6),
                detail=f"{share:.2%} of rows fail ({codes}); the limit is {limit:.2%}",
            ),
        )
    reasons = np.full(int(drop.sum()), "", dtype=object)
    for code, mask in masks:
        reasons = np.where(mask[drop], reasons + code + ";", reasons)
    return drop, np.array([r.rstrip(";") for r in reasons], dtype=object), None


def _status(results: list[CheckResult]) -> Status:
    failed = [r for r in results if not r.success]
    if any(r.severity == "block" for r in failed):
        return "block"
    return "warn" if failed else "pass"
