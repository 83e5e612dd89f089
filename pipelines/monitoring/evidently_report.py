"""The Evidently report people know, on a bounded seeded sample of the day.

Evidently's drift preset holds both datasets in memory and is slow on millions of rows
(evidently issues 1526 and 763), so the verdicts that trigger anything come from
pipelines/monitoring/check.py; this report shows the same tests on ``drift.report_rows`` rows of the
day against the serving version's reference sample (saved at training), with the spec's
tests and thresholds. HTML and JSON go to ``monitoring/<model>/date=D/`` in the lake. A column
with no value on one side (a day without wind gusts) is left out of the report.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from pipelines.core import layout
from pipelines.core.layout import FEATURES, PREDICTIONS
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.monitoring.reference import PREDICTION

log = logging.getLogger(__name__)
# Evidently 0.7 phones home unless told not to.
os.environ.setdefault("DO_NOT_TRACK", "1")


@dataclass(frozen=True)
class ReportFiles:
    html: str
    json: str
    rows: int
    drifted_share: float


def report_skipped(lake: Lake, spec: ModelSpec, day: date, drifted: bool) -> str:
    """Why the spec's ``drift.report`` policy makes no report for ``day`` ('' to make one):
    ``on_drift`` reports drifted days; ``weekly`` the first day of a drift and otherwise one
    day in seven."""
    policy = spec.drift.report
    if policy == "always" or (drifted and policy == "on_drift"):
        return ""
    if policy == "on_drift":
        return f"{day}: no drift, and drift.report is on_drift"
    if drifted and not _drifted_on(lake, spec, day - timedelta(days=1)):
        return ""  # a drift starts: the day people will want to read
    week = [day - timedelta(days=back) for back in range(1, 7)]
    recent = [d for d in week if lake.exists_path(layout.evidently_report(spec.name, d))]
    if not recent:
        return ""
    state = "the drift goes on" if drifted else "no drift"
    return f"{day}: {state}, and the weekly report was made on {max(recent)}"


def _drifted_on(lake: Lake, spec: ModelSpec, day: date) -> bool:
    """Whether the check of ``day`` saw drift (False when the day was not checked)."""
    path = layout.drift_result(spec.name, day)
    return lake.exists_path(path) and bool(lake.read_json(path).get("drifted"))


def day_sample(lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame:
    """``report_rows`` seeded rows of the day's features, with their predictions if scored.

    Read one column at a time and cut to the sample at once, so memory holds one full column
    (not the day) whatever its size.
    """
    import numpy as np
    import pyarrow as pa

    path = lake.partition_path(FEATURES, spec.name, day)
    rows = lake.row_count(path)
    chosen = np.arange(rows)
    if rows > spec.drift.report_rows:
        rng = np.random.default_rng(spec.training.seed + 2)
        chosen = np.sort(rng.choice(rows, size=spec.drift.report_rows, replace=False))
    columns = [spec.entity_key, *spec.feature_names]
    taken = {c: lake.read_table(path, [c]).column(0).take(pa.array(chosen)) for c in columns}
    sample = pa.table(taken).to_pandas()
    if lake.exists(PREDICTIONS, spec.name, day):
        scored_path = lake.partition_path(PREDICTIONS, spec.name, day)
        scored = lake.read_table(scored_path, [spec.entity_key, PREDICTION])
        if scored.num_rows == rows:  # scoring keeps the features' row order: take the same rows
            scored = scored.take(pa.array(chosen))
        scored = scored.to_pandas()
        if scored[spec.entity_key].equals(sample[spec.entity_key]):
            sample[PREDICTION] = scored[PREDICTION].to_numpy()
        else:
            sample = sample.merge(scored, on=spec.entity_key, how="left")
    return sample.drop(columns=spec.entity_key).reset_index(drop=True)


def reportable_columns(
    spec: ModelSpec, reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[list[str], list[str]]:
    """The columns the report compares, and those it leaves out because one side has no
    value in them (Evidently refuses an empty column; the drift check still judges them)."""
    shared = [c for c in [*spec.feature_names, PREDICTION] if c in current and c in reference]
    empty = [c for c in shared if current[c].isna().all() or reference[c].isna().all()]
    return [c for c in shared if c not in empty], empty


def build_report(spec: ModelSpec, reference: pd.DataFrame, current: pd.DataFrame) -> Any:
    """Run Evidently's DataDriftPreset with the spec's tests; returns the snapshot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns, empty = reportable_columns(spec, reference, current)
    if empty:
        log.info(
            "%s: left out of the Evidently report (no value on one side): %s", spec.name, empty
        )
    numeric = [f for f in spec.features_of_type("numeric") if f in columns]
    if PREDICTION in columns:
        numeric.append(PREDICTION)
    categorical = [c for c in columns if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    overrides = spec.drift.columns
    preset = DataDriftPreset(
        columns=columns,
        num_method=spec.drift.numeric.test,
        num_threshold=spec.drift.numeric.limit,
        cat_method=spec.drift.categorical.test,
        cat_threshold=spec.drift.categorical.limit,
        per_column_method={c: t.test for c, t in overrides.items()}
        | {PREDICTION: spec.drift.prediction.test},
        per_column_threshold={c: t.limit for c, t in overrides.items()}
        | {PREDICTION: spec.drift.prediction.limit},
        drift_share=spec.drift.share_of_drifted_columns,
    )

    def as_dataset(frame: pd.DataFrame) -> Any:
        frame = frame[columns].copy()
        for column in categorical:  # booleans and categories compared as text
            frame[column] = frame[column].astype("string")
        return Dataset.from_pandas(frame, data_definition=definition)

    return Report([preset]).run(as_dataset(current), as_dataset(reference))


def drifted_share(snapshot: Any) -> float:
    """The share of drifted columns the report found."""
    for metric in snapshot.dict()["metrics"]:
        if metric["config"]["type"].endswith("DriftedColumnsCount"):
            return float(metric["value"]["share"])
    return float("nan")


def write_report(
    lake: Lake, spec: ModelSpec, day: date, reference: pd.DataFrame
) -> tuple[ReportFiles, dict[str, str]]:
    """Build the day's report and save its HTML and JSON to the lake; returns where, and the
    two documents by file name (so they can be logged elsewhere without reading them back)."""
    current = day_sample(lake, spec, day)
    snapshot = build_report(spec, reference, current)
    folder = layout.monitoring_folder(spec.name, day)
    documents = {
        layout.EVIDENTLY_HTML: snapshot.get_html_str(as_iframe=False),
        layout.EVIDENTLY_JSON: snapshot.json(),
    }
    html, json_uri = (
        lake.write_bytes(text.encode(), f"{folder}/{name}") for name, text in documents.items()
    )
    files = ReportFiles(
        html=html, json=json_uri, rows=len(current), drifted_share=drifted_share(snapshot)
    )
    return files, documents
