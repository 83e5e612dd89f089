"""What every task body needs from its Airflow context: the partition date it processes, who
is acting, how a step's errors map onto Airflow's meaning, and how facts reach the Asset event.

Error mapping: missing input or too little data -> skipped with the reason; corrupt input, a
bad spec or failed training -> failed without retry; anything else (an object store or MLflow
down, a lost worker) -> retried by the task's retry policy.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlops.params import DATE_PARAM
from pipelines.core import errors
from pipelines.core.calendar import local_date
from pipelines.core.jsonsafe import json_safe
from pipelines.core.spec import ModelSpec

log = logging.getLogger(__name__)


def step(**kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """``@task`` for a step that returns one small JSON dict: one XCom, JSON-safe (NaN and
    infinity become null: Airflow refuses them after the work is done). TaskFlow would infer
    ``multiple_outputs`` from the ``-> dict`` annotation and push one more XCom per key."""

    def decorate(function: Callable[..., Any]) -> Any:
        @functools.wraps(function)
        def safe(*args: Any, **context: Any) -> Any:
            return json_safe(function(*args, **context))

        return task(multiple_outputs=False, **kwargs)(safe)

    return decorate


def partition_day(context: dict[str, Any], spec: ModelSpec) -> date:
    """The partition a run processes: the Param if set, else the run's partition key (a run
    of a partitioned Asset schedule is for one day: scoring, promotion, monitoring and
    retraining), else the start of its data interval (the nightly cron)."""
    chosen = (context.get("params") or {}).get(DATE_PARAM) or context.get("partition_key")
    if chosen:
        return date.fromisoformat(str(chosen))
    start = context.get("data_interval_start") or context.get("logical_date")
    if start is None:
        raise AirflowFailException(
            f"{spec.name}: this run has no data interval; trigger it with a {DATE_PARAM} Param"
        )
    return local_date(start, spec.schedules.timezone)


def partition_date_macro(spec: ModelSpec) -> Callable[[Any, Any, Any], str]:
    """``partition_day`` as a template macro: ``{{ mlops_partition_date(params,
    partition_key, data_interval_start) }}`` (the training pod's ``--date``)."""

    def partition_date(params: Any, key: Any, start: Any) -> str:
        context = {"params": params, "partition_key": key, "data_interval_start": start}
        return partition_day(context, spec).isoformat()

    return partition_date


def run_actor(context: dict[str, Any]) -> str:
    """The run as an actor in records and tags: ``airflow:<dag_id>/<run_id>``."""
    return f"airflow:{context['dag'].dag_id}/{context['run_id']}"


def decided_by(context: dict[str, Any], response: dict[str, Any] | None) -> str:
    """Who decided: the approver, else the user who triggered the run."""
    if response and response.get("responded_by_user"):
        user = response["responded_by_user"]
        return str(user.get("name") or user.get("id"))
    run = context.get("dag_run")
    return str(getattr(run, "triggering_user_name", None) or "airflow")


@contextmanager
def step_errors(spec: ModelSpec, step: str, day: date) -> Iterator[None]:
    """Translate pipelines errors into skip / fail-fast / retry."""
    where = f"{spec.name} {step} {day}"
    try:
        yield
    except errors.SKIPS as exc:
        log.warning("%s skipped: %s", where, exc)
        raise AirflowSkipException(f"{where}: {exc}") from exc
    except (errors.CorruptPartitionError, errors.SpecError, errors.TrainingError) as exc:
        raise AirflowFailException(f"{where}: {exc}") from exc


def emit(
    context: dict[str, Any], asset: Any, extra: dict[str, Any], days: list[str] | None = None
) -> None:
    """Attach facts (JSON-safe) to the Asset event this task emits, and the partition days it
    is for: each day starts one run of a consumer scheduled on the Asset's partitions."""
    event = context["outlet_events"][asset]
    event.extra = json_safe(extra)
    if days:
        event.add_partitions(days)
