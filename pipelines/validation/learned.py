"""Learned checks: ranges and domains profiled from a model's training data.

Saved with every trained version (``validation/learned_suite.json`` in its MLflow run, sorted
keys so versions diff cleanly) and read back from the champion at validation time, so new
data is judged against what the model in service was trained on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.core.layout import CHAMPION, Tags
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec

if TYPE_CHECKING:
    import pandas as pd


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


def champion_learned_suite(registry: Registry, spec: ModelSpec) -> dict[str, Any] | None:
    """The learned suite of the current champion (None before the first champion)."""
    if not spec.validation.learned.enabled:
        return None
    version = registry.alias_version(spec.name, CHAMPION)
    uri = (version.tags or {}).get(Tags.LEARNED_SUITE_URI) if version is not None else None
    return registry.load_dict(uri) if uri else None
