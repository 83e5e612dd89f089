"""The monitoring DAG's steps with their MLflow run: check, report, decide.

Each (model, day) has one run in the experiment ``<model>.monitoring`` (found again by its
tags on a re-run, so re-running a day logs into the same run): drift scores as metrics,
``drift.json``, the Evidently HTML/JSON and ``retrain.json`` as artifacts.
"""

from __future__ import annotations

import math
import time
from datetime import date

from pipelines.evidently_report import ReportFiles, write_report
from pipelines.monitor import MonitorResult, monitor_day
from pipelines.reference import load_sample
from pipelines.retrain import RetrainDecision, retrain_decision
from pipelines.spec import ModelSpec
from pipelines.storage import Lake

TAG = "mlops."


def experiment_name(model: str) -> str:
    return f"{model}.monitoring"


def monitoring_run(tracking_uri: str, spec: ModelSpec, day: date, artifact_root: str | None) -> str:
    """The run id of the day's monitoring run, created on first use."""
    import mlflow
    from mlflow import MlflowClient

    from pipelines.train import use_experiment

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment_id = use_experiment(client, experiment_name(spec.name), artifact_root)
    found = client.search_runs(
        [experiment_id],
        f"tags.`{TAG}logical_date` = '{day.isoformat()}' and tags.`{TAG}kind` = 'monitoring'",
        max_results=1,
    )
    if found:
        return str(found[0].info.run_id)
    tags = {
        f"{TAG}model": spec.name,
        f"{TAG}logical_date": day.isoformat(),
        f"{TAG}kind": "monitoring",
    }
    run = client.create_run(experiment_id, tags=tags, run_name=f"monitor-{day.isoformat()}")
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def run_url(tracking_uri: str, run_id: str) -> str:
    """Where a person finds the run: the UI when the store is a server, else its URI."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/runs/{run_id}"
    return f"runs:/{run_id}"


def check(
    lake: Lake, spec: ModelSpec, day: date, tracking_uri: str, artifact_root: str | None = None
) -> tuple[MonitorResult, str]:
    """Drift and live performance of the day, logged; returns the result and the run id."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    result = monitor_day(lake, spec, day, tracking_uri)
    run_id = monitoring_run(tracking_uri, spec, day, artifact_root)
    client = MlflowClient(tracking_uri)
    metrics = {f"drift.{c.column}": c.score for c in result.columns}
    metrics |= {f"null_share.{c.column}": c.null_today for c in result.columns}
    metrics |= {f"prediction_drift.v{p.column}": p.score for p in result.prediction}
    metrics |= {f"live_{p.metric}.v{p.version}": p.live for p in result.performance}
    metrics |= {"drifted_share": result.drifted_share, "rows": float(result.rows)}
    if result.target is not None:
        metrics["target_drift"] = result.target.score
    now = int(time.time() * 1000)
    tags = {
        f"{TAG}reference_version": result.version,
        f"{TAG}triggers": "; ".join(result.triggers)[:5000] or "none",
    }
    client.log_batch(  # one request; NaN (nothing to compare) is left out
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if not math.isnan(v)],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    client.log_dict(run_id, result.to_dict(), "drift.json")
    return result, run_id


def report(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    tracking_uri: str,
    version: str,
    artifact_root: str | None = None,
) -> tuple[ReportFiles, str]:
    """The Evidently report against ``version``'s reference sample, in the lake and MLflow."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    reference = load_sample(client, spec.name, version)
    if reference is None:
        raise ValueError(f"{spec.name}: version {version} has no reference sample")
    files, documents = write_report(lake, spec, day, reference)
    run_id = monitoring_run(tracking_uri, spec, day, artifact_root)
    for name, text in documents.items():
        client.log_text(run_id, text, f"evidently/{name}")
    client.log_metric(run_id, "evidently.drifted_share", files.drifted_share)
    return files, run_id


def decide(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    tracking_uri: str,
    triggers: list[str],
    artifact_root: str | None = None,
) -> RetrainDecision:
    """The guarded retrain decision, saved to the lake and the run."""
    from mlflow import MlflowClient

    decision = retrain_decision(lake, spec, day, tracking_uri, triggers)
    run_id = monitoring_run(tracking_uri, spec, day, artifact_root)
    client = MlflowClient(tracking_uri)
    client.log_dict(run_id, decision.to_dict(), "retrain.json")
    client.set_tag(run_id, f"{TAG}retrain", decision.why[:5000])
    return decision
