"""Validate: the gate every delivered partition passes before anything trains on or scores it.

A delivery lands in ``landing/<dataset>/date=D``. Validation reads it once, runs the contract
(pipelines/checks.py) through Great Expectations, and then:

- pass / warn: the file moves, byte for byte, to ``raw/<dataset>/date=D`` (the clean lake);
- drop_rows: the passing rows are published to ``raw``; the failing rows, each with its reason
  codes, go to ``quarantine/<dataset>/date=D/dropped.parquet``;
- block: the file moves intact to ``quarantine/<dataset>/date=D/part-0.parquet`` with its
  validation result and a readable REASON.txt. The clean lake never holds it.

Every run writes ``validation/<dataset>/date=D/result.json`` and ``report.html``. ``evaluate``
is the one implementation behind the DAG task, the CLI (any file) and the replay DAG.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pipelines.checks import (
    Check,
    Family,
    Role,
    batch_checks,
    failing_rows,
    label_checks,
    type_problems,
)
from pipelines.errors import PartitionMissingError, PipelineError, SpecError
from pipelines.sources import get_source, label_schema, labels_dataset
from pipelines.spec import ModelSpec
from pipelines.storage import PART_FILE, PRE_BUFFER, Lake, to_frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

Status = Literal["pass", "warn", "block"]
LANDING, RAW, QUARANTINE = "landing", "raw", "quarantine"
DROPPED_FILE = "dropped.parquet"
REASONS_COLUMN = "_mlops_reasons"
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, with the counts a person needs to act on it."""

    code: str
    severity: str
    success: bool
    description: str
    column: str | None = None
    expectation: str = ""
    engine: str = "great_expectations"  # or arrow_schema, reader, leakage, drop_limit
    unexpected_count: int | None = None
    observed: Any = None
    detail: str = ""

    def reason(self) -> str:
        """One human-readable line: code, where, and what was seen."""
        where = f" {self.column}" if self.column else ""
        count = f" ({self.unexpected_count} rows)" if self.unexpected_count else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"[{self.severity}] {self.code}{where}{count}{detail}"


@dataclass(frozen=True)
class ValidationResult:
    """The verdict on one delivered partition and where its rows went."""

    model: str
    dataset: str
    role: str
    day: date
    status: Status
    source_uri: str
    sha256: str
    rows: int
    rows_dropped: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    published_uri: str = ""
    quarantine_uri: str = ""
    accepted_by: str = ""
    validated_at: str = ""
    report_uri: str = ""

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success]

    @property
    def reason_codes(self) -> list[str]:
        return sorted({c.code for c in self.failed})

    def reasons(self) -> list[str]:
        return [c.reason() for c in self.failed]

    def counts(self) -> dict[str, dict[str, int]]:
        """Checks passed and failed by severity (for the report and metrics)."""
        out: dict[str, dict[str, int]] = {}
        for check in self.checks:
            bucket = out.setdefault(check.severity, {"passed": 0, "failed": 0})
            bucket["passed" if check.success else "failed"] += 1
        return out

    def summary(self) -> str:
        head = f"{self.dataset} {self.day}: {self.status}"
        if self.accepted_by:
            head += f" (accepted by {self.accepted_by})"
        if self.rows_dropped:
            head += f", {self.rows_dropped} of {self.rows} rows dropped to quarantine"
        return "\n".join([head, *(f"  {line}" for line in self.reasons())])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["reason_codes"] = self.reason_codes
        data["counts"] = self.counts()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["day"] = date.fromisoformat(known["day"])
        known["checks"] = [CheckResult(**c) for c in known.get("checks", [])]
        return cls(**known)


@dataclass
class Evaluation:
    """What ``evaluate`` found: the checks, and which rows to drop (None: none)."""

    status: Status
    rows: int
    checks: list[CheckResult]
    drop_mask: np.ndarray | None = None
    drop_reasons: np.ndarray | None = None  # reason codes of the dropped rows only
    frame: pd.DataFrame | None = None


# ------------------------------------------------------------------------------- reading
def sniff_unreadable(head: bytes, tail: bytes, size: int) -> CheckResult | None:
    """Why a file cannot be read as Parquet (empty, another format, truncated), or None."""
    if size == 0:
        return _reader_failure("empty_file", "the file is empty (0 bytes)")
    if head[:4] != PARQUET_MAGIC:
        text = head.lstrip()[:1]
        kind = "JSON" if text in (b"{", b"[") else "CSV or text" if b"," in head else "unknown"
        return _reader_failure(
            "not_parquet", f"expected Parquet, found {kind} data (first bytes {head[:16]!r})"
        )
    if tail[-4:] != PARQUET_MAGIC:
        return _reader_failure("corrupt_parquet", "truncated: the Parquet footer is missing")
    return None


def _reader_failure(code: str, detail: str) -> CheckResult:
    return CheckResult(
        code=code,
        severity="block",
        success=False,
        description="the file is readable Parquet",
        engine="reader",
        detail=detail,
    )


def read_batch(fs: Any, path: str) -> pa.Table | CheckResult:
    """The file as an Arrow table, or the failed check that says why it cannot be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = int(fs.size(path))
    with fs.open(path, "rb") as handle:
        head = handle.read(64)
        handle.seek(max(0, size - 4))
        tail = handle.read(4)
        problem = sniff_unreadable(head, tail, size)
        if problem:
            return problem
        handle.seek(0)
        try:
            return pq.read_table(handle, pre_buffer=PRE_BUFFER)
        except (pa.ArrowInvalid, OSError) as exc:
            return _reader_failure("corrupt_parquet", f"unreadable Parquet: {exc}")


# ------------------------------------------------------------------------------- evaluating
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


def run_expectations(frame: pd.DataFrame, checks: list[Check]) -> list[dict[str, Any]]:
    """Run the checks as one GX suite on the in-memory frame (no copy); one dict per check.

    SUMMARY format: counts and a sample of failures. The failing rows themselves come from
    ``failing_rows`` only for the checks that failed and drop rows.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("lake")
        .add_dataframe_asset("partition")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    # GX drops an expectation equal to one already in the suite (a declared domain and the
    # same learned one, say): run each distinct one once, and give its outcome to every check.
    distinct: dict[str, int] = {}
    for check in checks:
        distinct.setdefault(_identity(check), len(distinct))
    suite = gx.ExpectationSuite(name="contract")
    for check in checks:
        index = distinct[_identity(check)]
        if index < len(suite.expectations):
            continue
        kwargs = {
            k: pd.Timestamp(v) if isinstance(v, datetime) else v for k, v in check.kwargs.items()
        }
        suite.add_expectation(getattr(gxe, check.expectation)(**kwargs, meta={"check": index}))
    outcome = batch.validate(suite, result_format="SUMMARY")
    # GX does not keep the suite's order: match results by the index kept in ``meta``.
    by_index: dict[int, dict[str, Any]] = {}
    for r in outcome.results:
        info = r.exception_info or {}
        config = r.expectation_config
        meta = (config.meta if config is not None else None) or {}
        by_index[int(meta["check"])] = {
            "success": bool(r.success),
            "result": dict(r.result or {}),
            "error": info.get("exception_message") if info.get("raised_exception") else None,
        }
    return [by_index[distinct[_identity(check)]] for check in checks]


def _identity(check: Check) -> str:
    return f"{check.expectation}:{json.dumps(check.kwargs, sort_keys=True, default=str)}"


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


# ------------------------------------------------------------------------------- publishing
def dataset_of(spec: ModelSpec, role: Role) -> str:
    return spec.source.dataset if role == "batch" else labels_dataset(spec)


def report_folder(dataset: str, day: date) -> str:
    """Where a (dataset, date)'s ``result.json`` and ``report.html`` live in the lake."""
    return f"validation/{dataset}/date={day.isoformat()}"


def result_path(dataset: str, day: date) -> str:
    return f"{report_folder(dataset, day)}/result.json"


def quarantine_folder(dataset: str, day: date) -> str:
    return f"{QUARANTINE}/{dataset}/date={day.isoformat()}"


def validate_partition(
    lake: Lake,
    spec: ModelSpec,
    role: Role,
    day: date,
    now: datetime | None = None,
    learned: dict[str, Any] | None = None,
) -> ValidationResult:
    """Validate the landed partition of (dataset, D) and move it to raw or quarantine.

    Re-running after the landing file has moved returns the stored verdict; a new delivery
    for the same date is validated afresh (idempotent by date).
    """
    from pipelines.review import accepted_decision

    dataset = dataset_of(spec, role)
    landing = lake.partition_path(LANDING, dataset, day)
    if not lake.fs.exists(landing):
        return _stored_result(lake, spec, dataset, day)
    sha = lake.sha256(landing)
    batch = read_batch(lake.fs, landing)
    base = ValidationResult(
        model=spec.name,
        dataset=dataset,
        role=role,
        day=day,
        status="block",
        source_uri=lake.uri(landing),
        sha256=sha,
        rows=0,
        validated_at=(now or datetime.now(UTC)).isoformat(),
    )
    if isinstance(batch, CheckResult):
        evaluation = Evaluation(status="block", rows=0, checks=[batch])
    else:
        leakage_batch = _batch_for_leakage(lake, spec, day) if role == "labels" else None
        evaluation = evaluate(spec, batch, role, day, now, learned, leakage_batch)
    result = replace(base, status=evaluation.status, rows=evaluation.rows, checks=evaluation.checks)
    accepted = accepted_decision(lake, dataset, day, sha)
    readable = not any(c.engine == "reader" for c in result.failed)
    if accepted is not None and result.status != "pass" and readable:
        result = replace(result, status="warn", accepted_by=accepted.get("actor", "unknown"))
        evaluation.drop_mask = None
    result = _publish(lake, result, evaluation, landing)
    return _write_reports(lake, result)


def _batch_for_leakage(lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame | None:
    """The validated batch the labels belong to (None when it never passed validation)."""
    if not lake.exists(RAW, spec.source.dataset, day):
        return None
    wanted = [spec.entity_key, *spec.features_of_type("numeric"), *spec.features_of_type("boolean")]
    path = lake.partition_path(RAW, spec.source.dataset, day)
    present = [c for c in wanted if c in lake.column_names(path)]
    return lake.read_frame(path, present)


def _publish(
    lake: Lake, result: ValidationResult, evaluation: Evaluation, landing: str
) -> ValidationResult:
    dataset, day = result.dataset, result.day
    raw_path = lake.partition_path(RAW, dataset, day)
    folder = quarantine_folder(dataset, day)
    if result.status == "block":
        target = lake.path(f"{folder}/{PART_FILE}")
        lake.delete(lake.path(f"{folder}/{DROPPED_FILE}"))
        lake.move(landing, target)
        result = replace(result, quarantine_uri=lake.uri(target))
        _write_quarantine_notes(lake, result)
        log.warning("quarantined %s", result.summary())
        return result
    if evaluation.drop_mask is not None and evaluation.frame is not None:
        result = _publish_with_drops(lake, result, evaluation, raw_path)
        lake.delete(landing)
        return result
    lake.move(landing, raw_path)
    return replace(result, published_uri=lake.uri(raw_path))


def _publish_with_drops(
    lake: Lake, result: ValidationResult, evaluation: Evaluation, raw_path: str
) -> ValidationResult:
    frame, mask = evaluation.frame, evaluation.drop_mask
    if frame is None or mask is None:
        raise PipelineError("internal: rows to drop without the frame they come from")
    keep = lake.write_partition(frame[~mask], RAW, result.dataset, result.day)
    dropped = frame[mask].copy()
    dropped[REASONS_COLUMN] = evaluation.drop_reasons
    folder = quarantine_folder(result.dataset, result.day)
    target = lake.path(f"{folder}/{DROPPED_FILE}")
    lake.write_file(dropped, target)
    result = replace(
        result,
        rows_dropped=int(mask.sum()),
        published_uri=keep.uri,
        quarantine_uri=lake.uri(target),
    )
    _write_quarantine_notes(lake, result)
    log.warning("dropped rows %s", result.summary())
    return result


def _write_quarantine_notes(lake: Lake, result: ValidationResult) -> None:
    folder = quarantine_folder(result.dataset, result.day)
    lake.write_json(result.to_dict(), f"{folder}/validation.json")
    what = "whole batch set aside" if result.status == "block" else "failing rows set aside"
    text = (
        f"{result.summary()}\n\n{what}. Review it with the mlops__quarantine_review DAG "
        f"(dataset={result.dataset}, date={result.day}): revalidate after a fix, accept, "
        "or discard.\n"
    )
    lake.write_bytes(text.encode(), f"{folder}/REASON.txt")


def _write_reports(lake: Lake, result: ValidationResult) -> ValidationResult:
    from pipelines.report import render_html

    folder = report_folder(result.dataset, result.day)
    report_uri = lake.write_bytes(render_html(result).encode(), f"{folder}/report.html")
    result = replace(result, report_uri=report_uri)
    lake.write_json(result.to_dict(), f"{folder}/result.json")
    return result


def _stored_result(lake: Lake, spec: ModelSpec, dataset: str, day: date) -> ValidationResult:
    if lake.exists_path(result_path(dataset, day)):
        return ValidationResult.from_dict(lake.read_json(result_path(dataset, day)))
    uri = lake.partition_uri(LANDING, dataset, day)
    raise PartitionMissingError(f"model {spec.name!r}: nothing delivered for {day} at {uri}")


def validate_file(spec: ModelSpec, uri: str, day: date | None, role: Role) -> dict[str, Any]:
    """Check any file (local path or ``s3://``) against the contract; nothing is moved.

    The date is ``day``, else the ``date=YYYY-MM-DD`` folder in the URI, else the date of the
    newest timestamp in the file.
    """
    import re

    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        raise PartitionMissingError(f"{uri}: no such file")
    batch = read_batch(fs, path)
    found = re.search(r"date=(\d{4}-\d{2}-\d{2})", uri)
    day = day or (date.fromisoformat(found.group(1)) if found else None)
    if isinstance(batch, CheckResult):
        evaluation = Evaluation(status="block", rows=0, checks=[batch])
    else:
        day = day or _newest_day(spec, batch) or datetime.now(UTC).date()
        evaluation = evaluate(spec, batch, role, day)
    day = day or datetime.now(UTC).date()
    result = ValidationResult(
        model=spec.name,
        dataset=dataset_of(spec, role),
        role=role,
        day=day,
        status=evaluation.status,
        source_uri=uri,
        sha256="",
        rows=evaluation.rows,
        rows_dropped=0 if evaluation.drop_mask is None else int(evaluation.drop_mask.sum()),
        checks=evaluation.checks,
        validated_at=datetime.now(UTC).isoformat(),
    )
    failed = [asdict(c) for c in result.failed]
    return {**result.to_dict(), "checks": failed, "reasons": result.reasons()}


def _newest_day(spec: ModelSpec, table: pa.Table) -> date | None:
    from zoneinfo import ZoneInfo

    import pyarrow.compute as pc

    newest = pc.max(table.column(spec.timestamp)).as_py()
    if newest is None:
        return None
    if isinstance(newest, datetime):
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        return newest.astimezone(ZoneInfo(spec.schedules.timezone)).date()
    return newest if isinstance(newest, date) else None


# ------------------------------------------------------------------------------- one night
@dataclass(frozen=True)
class DayValidation:
    """Night D's verdicts: the batch of D and the labels that arrived with it."""

    batch: ValidationResult
    labels: ValidationResult | None

    @property
    def blocked(self) -> bool:
        return self.batch.status == "block"

    def to_dict(self) -> dict[str, Any]:
        def brief(r: ValidationResult | None) -> dict[str, Any] | None:
            if r is None:
                return None
            keys = ("dataset", "status", "rows", "rows_dropped", "report_uri", "quarantine_uri")
            picked = {k: getattr(r, k) for k in keys}
            return {**picked, "reason_codes": r.reason_codes, "counts": r.counts()}

        return {
            "date": self.batch.day.isoformat(),
            "status": self.batch.status,
            "batch": brief(self.batch),
            "labels": brief(self.labels),
        }


def validate_day(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    now: datetime | None = None,
    learned: dict[str, Any] | None = None,
) -> DayValidation:
    """Validate night D's deliveries: the batch of D, the labels of D - delay, and move the
    source's reference tables along."""
    for dataset in get_source(spec).context_datasets:
        landing = lake.partition_path(LANDING, dataset, day)
        if lake.fs.exists(landing):
            lake.move(landing, lake.partition_path(RAW, dataset, day))
    batch = validate_partition(lake, spec, "batch", day, now, learned)
    label_day = day - timedelta(days=spec.label.arrival_delay_days)
    labels = None
    if lake.exists(LANDING, labels_dataset(spec), label_day) or lake.exists_path(
        result_path(labels_dataset(spec), label_day)
    ):
        labels = validate_partition(lake, spec, "labels", label_day, now)
    return DayValidation(batch=batch, labels=labels)
