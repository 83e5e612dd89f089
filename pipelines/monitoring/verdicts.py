"""What monitoring concludes, as values: one column's drift verdict, one version's live
performance, and the whole day's result (saved as ``drift.json``). ``judged`` turns a column's
counts into its verdict with the spec's test."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.core.jsonsafe import json_safe
from pipelines.core.spec import DriftTestSpec
from pipelines.monitoring import statistics as drift


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict; ``null_*`` are its missing shares in reference and today."""

    column: str
    test: str
    threshold: float
    score: float
    drifted: bool
    null_reference: float
    null_today: float
    missing_drift: bool


@dataclass(frozen=True)
class VersionPerformance:
    """Live performance of one version on the labelled rows it scored."""

    version: str
    rows: int
    metric: str
    live: float
    reference: float
    drop: float  # relative: how much worse than on the holdout (0.1 = 10% worse)
    decayed: bool


@dataclass(frozen=True)
class MonitorResult:
    """Every verdict on one monitored day, against the serving champion's reference."""

    model: str
    day: date
    version: str  # the champion whose reference the data is compared with
    rows: int
    columns: list[ColumnDrift] = field(default_factory=list)
    drifted_share: float = 0.0
    data_drift: bool = False
    prediction: list[ColumnDrift] = field(default_factory=list)
    labels_day: date | None = None
    labels: str = "pending"  # "pending", "in", or why performance was not judged
    performance: list[VersionPerformance] = field(default_factory=list)
    target: ColumnDrift | None = None
    triggers: list[str] = field(default_factory=list)
    uri: str = ""

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def drifted(self) -> bool:
        """Anything moved: a drifted column, a drifted prediction, or a decayed version."""
        return bool(
            self.drifted_columns
            or any(p.drifted for p in self.prediction)
            or any(p.decayed for p in self.performance)
        )

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["day"] = self.day.isoformat()
        payload["labels_day"] = self.labels_day.isoformat() if self.labels_day else None
        payload["drifted_columns"] = self.drifted_columns
        payload["drifted"] = self.drifted
        return dict(json_safe(payload))  # a score with nothing to compare is NaN: null

    def summary(self) -> dict[str, Any]:
        """The small JSON for XCom and Asset events."""
        return json_safe(
            {
                "model": self.model,
                "date": self.day.isoformat(),
                "version": self.version,
                "rows": self.rows,
                "drifted_share": round(self.drifted_share, 4),
                "drifted_columns": self.drifted_columns,
                "drifted": self.drifted,
                "prediction_drift": {
                    p.column: round(p.score, 4) for p in self.prediction if p.drifted
                },
                "labels": self.labels,
                "decayed": [p.version for p in self.performance if p.decayed],
                "triggers": self.triggers,
                "uri": self.uri,
            }
        )


def today(
    profile: dict[str, Any], values: pa.ChunkedArray | pd.Series | np.ndarray
) -> dict[str, Any]:
    """Today's counts of one column on the reference profile's grid or categories."""
    if profile["kind"] == "numeric":
        if isinstance(values, pa.ChunkedArray):
            values = values.to_numpy()
        array = np.asarray(values, dtype="float64")
        return drift.numeric_today(profile, array)
    series = values.to_pandas() if isinstance(values, pa.ChunkedArray) else pd.Series(values)
    return drift.categorical_today(profile, series)


def judged(
    test: DriftTestSpec,
    column: str,
    profile: dict[str, Any],
    counted: dict[str, Any],
    max_null_increase: float,
) -> ColumnDrift:
    value = drift.score(test.test, profile, counted)
    null_reference, null_today = drift.null_share(profile), drift.null_share(counted)
    return ColumnDrift(
        column=column,
        test=test.test,
        threshold=test.limit,
        score=value,
        drifted=drift.drifted(test, value),
        null_reference=round(null_reference, 6),
        null_today=round(null_today, 6),
        missing_drift=null_today - null_reference > max_null_increase,
    )
