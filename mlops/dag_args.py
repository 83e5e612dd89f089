"""What the project's DAGs share: owner, retries and alerts, start date, schedules after an
Asset. One place, so every model's DAGs behave alike."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, CronDataIntervalTimetable, PartitionedAssetTimetable

from mlops import settings
from mlops.notify import FailureNotifier
from pipelines.core.calendar import day_end, day_start
from pipelines.core.spec import ModelSpec

PLATFORM_OWNER = "ml-platform"


def default_args(spec: ModelSpec) -> dict[str, object]:
    """Owner and retry policy every task of a model's DAGs shares."""
    return {
        "owner": spec.owner,
        "on_failure_callback": [FailureNotifier()],
        "retries": spec.retries.count,
        "retry_delay": timedelta(seconds=spec.retries.delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=spec.retries.max_delay_minutes),
    }


def platform_args() -> dict[str, Any]:
    """Owner, retries and alerts of the platform's own DAGs (rollback, quarantine review)."""
    return {
        "owner": PLATFORM_OWNER,
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": [FailureNotifier()],
    }


def model_dag_args(spec: ModelSpec, kind: str, **extra: Any) -> dict[str, Any]:
    """What each of a model's DAGs shares (all but the schedule): ``<model>__<kind>``, the
    spec's start date at midnight in its timezone, one run at a time, no catch-up (history is
    replayed on purpose, with ``airflow backfill create``)."""
    end = settings.schedule_end(spec)
    tz = spec.schedules.timezone
    return {
        "dag_id": f"{spec.name}__{kind}",
        "start_date": day_start(spec.schedules.start_date, tz),
        # The last night runs: its interval starts after midnight (a 02:00 cron).
        "end_date": day_end(end, tz) - timedelta(microseconds=1) if end else None,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(spec),
        "tags": ["mlops", f"model:{spec.name}", kind, *spec.tags],
        **extra,
    }


def after_or_cron(spec: ModelSpec, after: Asset, cron: str | None) -> Any:
    """One run per partition day of ``after`` (Airflow's partitioned Assets: events of the
    same day that queue up before the run starts make one run, events of different days never
    share one), or runs on ``cron`` (spec's timezone) when the spec sets one."""
    tz = spec.schedules.timezone
    if cron:
        return CronDataIntervalTimetable(cron, timezone=tz)
    return PartitionedAssetTimetable(assets=after)
