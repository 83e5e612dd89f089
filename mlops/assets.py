"""Every Asset the project's DAGs produce or consume, declared once.

Producers list these in ``outlets`` and attach facts (date, rows, URI, model version) as event
metadata; consumers schedule on them. Names are stable: ``<zone>.<dataset>`` and ``model.<name>``.
URIs use the ``x-mlops://`` scheme: Airflow skips URI normalisation for ``x-`` schemes, where
any other scheme makes the first Asset of a process load every provider's URI handlers
(about 0.24 s of each DAG file parse here, i.e. of every task start).
"""

from __future__ import annotations

from airflow.sdk import Asset

from pipelines.core.spec import ModelSpec


def raw_asset(spec: ModelSpec) -> Asset:
    """Raw partitions delivered for a model's source dataset."""
    return Asset(name=f"raw.{spec.source.dataset}", uri=f"x-mlops://lake/raw/{spec.source.dataset}")


def features_asset(spec: ModelSpec) -> Asset:
    """Features partitions built for one model."""
    return Asset(name=f"features.{spec.name}", uri=f"x-mlops://lake/features/{spec.name}")


def model_asset(spec: ModelSpec) -> Asset:
    """New registered versions of one model in MLflow."""
    return Asset(name=f"model.{spec.name}", uri=f"x-mlops://registry/{spec.name}")


def predictions_asset(spec: ModelSpec) -> Asset:
    """Predictions partitions scored for one model."""
    return Asset(name=f"predictions.{spec.name}", uri=f"x-mlops://lake/predictions/{spec.name}")


def retrain_asset(spec: ModelSpec) -> Asset:
    """Retrain requests from the monitoring DAG, one partition per monitored day (the extra
    says why); the retraining DAG runs on them."""
    return Asset(name=f"retrain.{spec.name}", uri=f"x-mlops://monitoring/{spec.name}/retrain")
