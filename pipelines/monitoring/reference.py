"""The reference profile saved with every trained version, for monitoring.

``monitoring/reference.json`` in the version's MLflow run: per feature the statistics of
``statistics.py`` (on up to ``drift.reference_rows`` training rows, seeded), the holdout's
prediction and label distributions, and the holdout value of the gate metric (the baseline
that live performance is compared with). ``monitoring/reference_sample.parquet`` keeps
``drift.report_rows`` training rows with their predictions for the Evidently report. The
version's tag ``mlops.reference_uri`` points at the profile.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.layout import Artifacts, Tags
from pipelines.core.registry import Registry
from pipelines.core.spec import FeatureSpec, ModelSpec
from pipelines.monitoring import statistics as drift

REFERENCE_ARTIFACT = Artifacts.REFERENCE  # in the version's MLflow run
SAMPLE_ARTIFACT = Artifacts.REFERENCE_SAMPLE
PREDICTION = "prediction"  # the predictions' column, in samples and partitions


def column_profile(feature: FeatureSpec, values: pd.Series) -> dict[str, Any]:
    if feature.type == "numeric":
        return drift.numeric_profile(values.to_numpy(dtype="float64", na_value=np.nan))
    return drift.categorical_profile(values)


def label_values(values: pd.Series, task: str) -> pd.Series | np.ndarray:
    """Labels as profiled: class names for binary labels, floats for regression."""
    if task == "binary":
        return values.astype("Int64").astype("string")
    return values.to_numpy(dtype="float64", na_value=np.nan)


def label_profile(values: pd.Series, task: str) -> dict[str, Any]:
    labels = label_values(values, task)
    if isinstance(labels, pd.Series):
        return drift.categorical_profile(labels)
    return drift.numeric_profile(labels)


def seeded_rows(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """At most ``limit`` rows, the same ones for the same data and seed."""
    if len(frame) <= limit:
        return frame
    chosen = np.random.default_rng(seed).choice(len(frame), size=limit, replace=False)
    return frame.iloc[np.sort(chosen)]


def profile_columns(features: list[FeatureSpec], rows: pd.DataFrame) -> dict[str, Any]:
    """Each feature's profile, columns in parallel: the sorts behind numeric profiles release
    the GIL (a second core halves the ~1 s that 30 columns of a million rows take)."""
    columns = [(feature, rows[feature.name]) for feature in features]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        profiles = pool.map(lambda item: column_profile(*item), columns)
        return {
            feature.name: profile for (feature, _), profile in zip(columns, profiles, strict=True)
        }


def build_reference(
    spec: ModelSpec,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    holdout_predictions: np.ndarray,
    metric_value: float,
) -> dict[str, Any]:
    """The profile of one version: what monitoring compares each day with."""
    rows = seeded_rows(train, spec.drift.reference_rows, spec.training.seed)
    return {
        "model": spec.name,
        "rows": len(rows),
        "train_rows": len(train),
        "columns": profile_columns(spec.features, rows),
        "prediction": drift.numeric_profile(np.asarray(holdout_predictions, dtype="float64")),
        "label": label_profile(holdout[spec.label.name], spec.label.task),
        "metric": {"name": spec.gates.metric, "value": float(metric_value)},
    }


def log_reference(
    spec: ModelSpec,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    predicted: np.ndarray,
    metric_value: float,
    predict: Callable[[pd.DataFrame], np.ndarray],
) -> dict[str, str]:
    """Log the profile and the report sample to the active run; returns the version tag."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_reference needs an active MLflow run")
    mlflow.log_dict(
        build_reference(spec, train, holdout, predicted, metric_value), REFERENCE_ARTIFACT
    )
    sample = seeded_rows(train, spec.drift.report_rows, spec.training.seed + 1)
    sample = sample[spec.feature_names].reset_index(drop=True)
    sample[PREDICTION] = np.asarray(predict(sample), dtype="float64")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(SAMPLE_ARTIFACT).name
        sample.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), str(Path(SAMPLE_ARTIFACT).parent))
    return {Tags.REFERENCE_URI: f"runs:/{run.info.run_id}/{REFERENCE_ARTIFACT}"}


def _reference_uri(registry: Registry, model: str, version: str) -> str | None:
    found = registry.version(model, version)
    return (found.tags or {}).get(Tags.REFERENCE_URI) if found is not None else None


def load_reference(registry: Registry, model: str, version: str) -> dict[str, Any] | None:
    """A version's profile (None for versions trained before monitoring existed)."""
    uri = _reference_uri(registry, model, version)
    return registry.load_dict(uri) if uri else None


def load_sample(registry: Registry, model: str, version: str) -> pd.DataFrame | None:
    """The version's report sample (None when it has none)."""
    uri = _reference_uri(registry, model, version)
    return registry.load_parquet(uri.replace(REFERENCE_ARTIFACT, SAMPLE_ARTIFACT)) if uri else None
