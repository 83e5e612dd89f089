"""``init-model``: a starting spec from a sample file, for an engineer to review and edit.

Types are inferred from the sample (numbers -> numeric, bool -> boolean, the rest ->
categorical); the key is the first column whose values are all distinct and whose name looks
like an id, the timestamp the first datetime column. The result is validated before writing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipelines.core.errors import SpecError
from pipelines.core.spec import parse_spec


def read_sample(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        frame = pd.read_csv(path)
        for column in frame.columns:
            if frame[column].dtype == object or str(frame[column].dtype) in ("str", "string"):
                parsed = pd.to_datetime(frame[column], errors="coerce", utc=True)
                if parsed.notna().all():
                    frame[column] = parsed
        return frame
    raise SpecError(f"{path}: sample must be .parquet or .csv, not {suffix or 'no suffix'!r}")


def _feature_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    return "categorical"


def _suggest_key(frame: pd.DataFrame, exclude: set[str]) -> str:
    candidates = [c for c in frame.columns if c not in exclude and frame[c].is_unique]
    named = [c for c in candidates if c.lower() == "id" or c.lower().endswith(("_id", "id"))]
    if named or candidates:
        return (named or candidates)[0]
    raise SpecError("no column with distinct values to use as entity_key; add an id column")


def draft_spec(
    name: str, frame: pd.DataFrame, label: str, dataset: str | None = None
) -> dict[str, Any]:
    """The spec as plain data, with the sample's columns as features."""
    if label not in frame.columns:
        raise SpecError(f"--label {label!r} is not a column of the sample: {list(frame.columns)}")
    times = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if not times:
        raise SpecError("the sample has no timestamp column; add one (events need a time)")
    timestamp = times[0]
    key = _suggest_key(frame, {label, timestamp})
    values = frame[label].dropna().unique()
    task = "binary" if len(values) == 2 else "regression"
    features = [
        {"name": str(c), "type": _feature_type(frame[c])}
        for c in frame.columns
        if c not in {label, key, timestamp}
    ]
    first_day = pd.Timestamp(frame[timestamp].min()).date().isoformat()
    data: dict[str, Any] = {
        "name": name,
        "description": f"TODO: what {name} predicts and who uses it.",
        "owner": "TODO-team",
        "tags": [],
        "source": {"kind": "lake", "dataset": dataset or name},
        "entity_key": key,
        "timestamp": timestamp,
        "label": {"name": label, "task": task, "arrival_delay_days": 1},
        "features": features,
        "training": {"algorithm": "lightgbm", "window_days": 28, "min_rows": 500},
        "gates": {"metric": "roc_auc", "min_value": 0.6}
        if task == "binary"
        else {"metric": "rmse"},
        "schedules": {"start_date": first_day, "timezone": "UTC", "training": "0 3 * * *"},
        "execution": {"mode": "local"},
    }
    return data


def init_model(name: str, sample: Path, label: str, out_dir: Path, force: bool = False) -> Path:
    """Write ``<out_dir>/<name>.yaml``; refuses to overwrite unless ``force``."""
    target = out_dir / f"{name}.yaml"
    if target.exists() and not force:
        raise SpecError(f"{target}: already exists; pass --force to overwrite")
    data = draft_spec(name, read_sample(sample), label)
    parse_spec(data, str(target))  # never write a spec that cannot load
    header = (
        f"# Drafted by `python -m pipelines init-model` from {sample.name}.\n"
        "# Review: owner, description, feature types, entity_key and timestamp, gates.\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return target
