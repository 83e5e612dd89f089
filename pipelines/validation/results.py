"""What validation finds, as values: one check's outcome, one partition's verdict, one
night's verdicts, and the evaluation a verdict is built from. JSON-safe through ``to_dict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Status = Literal["pass", "warn", "block"]


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
    superseded_uri: str = ""  # where the clean data of an earlier delivery of the date went

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


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Evaluation:
    """What ``evaluate`` found: the checks, and which rows to drop (None: none)."""

    status: Status
    rows: int
    checks: list[CheckResult]
    drop_mask: np.ndarray | None = None
    drop_reasons: np.ndarray | None = None  # reason codes of the dropped rows only
    frame: pd.DataFrame | None = None

    @property
    def rows_dropped(self) -> int:
        return 0 if self.drop_mask is None else int(self.drop_mask.sum())


@dataclass(frozen=True)
class DayValidation:
    """Night D's verdicts: the batch of D and the labels that arrived with it."""

    batch: ValidationResult
    labels: ValidationResult | None
    late_labels: list[ValidationResult] = field(default_factory=list)  # of earlier days

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
            "late_labels": [brief(r) for r in self.late_labels],
        }
