"""Learned checks: ranges and domains profiled from a model's training data.

Saved with every trained version (``validation/learned_suite.json`` in its MLflow run, sorted
keys so versions diff cleanly) and read back from the champion at validation time, so new
data is judged against what the model in service was trained on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.spec import ModelSpec

if TYPE_CHECKING:
    import pandas as pd

LEARNED_SUITE_ARTIFACT = "validation/learned_suite.json"
LEARNED_SUITE_TAG = "mlops.learned_suite_uri"


def learned_suite(frame: pd.DataFrame, spec: ModelSpec) -> dict[str, Any]:
    """Per feature: min/max (numeric) or the categories seen, and the null share."""
    columns: dict[str, dict[str, Any]] = {}
    for feature in spec.features:
        values = frame[feature.name]
        stats: dict[str, Any] = {"null_share": round(float(values.isna().mean()), 6)}
        present = values.dropna()
        if feature.type == "numeric" and len(present):
            stats.update(min=float(present.min()), max=float(present.max()))
        elif feature.type == "categorical":
            stats["categories"] = sorted(str(v) for v in present.unique())
        columns[feature.name] = stats
    return {"model": spec.name, "rows": len(frame), "columns": columns}


def champion_learned_suite(tracking_uri: str, spec: ModelSpec) -> dict[str, Any] | None:
    """The learned suite of the current champion (None before the first champion)."""
    if not spec.validation.learned.enabled:
        return None
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    try:
        version = client.get_model_version_by_alias(spec.name, "champion")
    except MlflowException:
        return None  # no registered model or no champion yet
    uri = version.tags.get(LEARNED_SUITE_TAG)
    if not uri:
        return None
    mlflow.set_tracking_uri(tracking_uri)
    return dict(mlflow.artifacts.load_dict(uri))
