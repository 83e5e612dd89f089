"""The monitoring DAG's steps with their MLflow run: check, report, decide.

Each (model, day) has one run in the experiment ``<model>.monitoring`` (found again by its
tags on a re-run, so re-running a day logs into the same run): drift scores as metrics,
``drift.json``, the Evidently HTML/JSON and ``retrain.json`` as artifacts. Each step builds
one ``Registry``.
"""

from __future__ import annotations

import math
import time
from datetime import date

from pipelines.core.layout import TAG_VALUE_LIMIT, Artifacts, Tags
from pipelines.core.registry import Registry
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.monitoring.check import monitor_day
from pipelines.monitoring.evidently_report import ReportFiles, write_report
from pipelines.monitoring.reference import load_sample
from pipelines.monitoring.retrain import RetrainDecision, retrain_decision
from pipelines.monitoring.verdicts import MonitorResult

KIND = "monitoring"


def experiment_name(model: str) -> str:
    return f"{model}.{KIND}"


def monitoring_run(
    registry: Registry, spec: ModelSpec, day: date, artifact_root: str | None
) -> str:
    """The run id of the day's monitoring run, created on first use."""
    experiment_id = registry.use_experiment(experiment_name(spec.name), artifact_root)
    found = registry.client.search_runs(
        [experiment_id],
        f"tags.`{Tags.LOGICAL_DATE}` = '{day.isoformat()}' and tags.`{Tags.KIND}` = '{KIND}'",
        max_results=1,
    )
    if found:
        return str(found[0].info.run_id)
    tags = {Tags.MODEL: spec.name, Tags.LOGICAL_DATE: day.isoformat(), Tags.KIND: KIND}
    client = registry.client
    run = client.create_run(experiment_id, tags=tags, run_name=f"monitor-{day.isoformat()}")
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def check(
    lake: Lake, spec: ModelSpec, day: date, tracking_uri: str, artifact_root: str | None = None
) -> tuple[MonitorResult, str]:
    """Drift and live performance of the day, logged; returns the result and the run id."""
    from mlflow.entities import Metric, RunTag

    registry = Registry(tracking_uri)
    result = monitor_day(lake, spec, day, registry)
    run_id = monitoring_run(registry, spec, day, artifact_root)
    metrics = {f"drift.{c.column}": c.score for c in result.columns}
    metrics |= {f"null_share.{c.column}": c.null_today for c in result.columns}
    metrics |= {f"prediction_drift.v{p.column}": p.score for p in result.prediction}
    metrics |= {f"live_{p.metric}.v{p.version}": p.live for p in result.performance}
    metrics |= {"drifted_share": result.drifted_share, "rows": float(result.rows)}
    if result.target is not None:
        metrics["target_drift"] = result.target.score
    now = int(time.time() * 1000)
    tags = {
        Tags.REFERENCE_VERSION: result.version,
        Tags.TRIGGERS: "; ".join(result.triggers)[:TAG_VALUE_LIMIT] or "none",
    }
    registry.client.log_batch(  # one request; NaN (nothing to compare) is left out
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if not math.isnan(v)],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    registry.client.log_dict(run_id, result.to_dict(), Artifacts.DRIFT)
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
    registry = Registry(tracking_uri)
    reference = load_sample(registry, spec.name, version)
    if reference is None:
        raise ValueError(f"{spec.name}: version {version} has no reference sample")
    files, documents = write_report(lake, spec, day, reference)
    run_id = monitoring_run(registry, spec, day, artifact_root)
    for name, text in documents.items():
        registry.client.log_text(run_id, text, f"{Artifacts.EVIDENTLY}/{name}")
    registry.client.log_metric(run_id, "evidently.drifted_share", files.drifted_share)
    return files, run_id


def decide(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    tracking_uri: str,
    triggers: list[str],
    artifact_root: str | None = None,
    frontier: date | None = None,
) -> RetrainDecision:
    """The guarded retrain decision, saved to the lake and the run (``frontier``: the newest
    day with a promotion decision; a day behind it asks no retrain)."""
    registry = Registry(tracking_uri)
    decision = retrain_decision(lake, spec, day, registry, triggers, frontier)
    run_id = monitoring_run(registry, spec, day, artifact_root)
    registry.client.log_dict(run_id, decision.to_dict(), Artifacts.RETRAIN)
    registry.client.set_tag(run_id, Tags.RETRAIN, decision.why[:TAG_VALUE_LIMIT])
    return decision
