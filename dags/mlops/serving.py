"""After training: batch scoring, promotion runs and rollbacks, built from the model specs.

- ``<model>__scoring``: scores a day's features with the models serving at the end of that
  day (champion, and the challenger for its share during a rollout); runs when the features
  Asset is updated, or on ``schedules.scoring``. The trigger form can pick a date and force
  one version for every row.
- ``<model>__promotion``: one decision of the spec's promotion strategy per run (start,
  advance, hold, wait, abort), after each scoring or on ``schedules.promotion``; a step the
  spec names in ``approval_steps`` waits for a person in Airflow's Required Actions.
- ``mlops__rollback``: a person makes a model's ``previous`` (or any registered) version
  champion again, with a reason; recorded like every other transition.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, Param, task
from airflow.sdk.exceptions import AirflowFailException

from mlops import metrics, settings
from mlops.assets import features_asset, predictions_asset
from mlops.links import MODEL_VERSION, with_links
from mlops.review import decided_by
from mlops.tasks import (
    DATE_PARAM,
    date_param,
    emit,
    partition_day,
    platform_args,
    reason_param,
    step,
    step_errors,
)
from pipelines.spec import ModelSpec

log = logging.getLogger(__name__)
APPROVE, REJECT = "Approve", "Reject"
ROLLBACK_DAG_ID = "mlops__rollback"


def dag_args(spec: ModelSpec, kind: str, **extra: Any) -> dict[str, Any]:
    """What a model's DAGs after training share (all but the schedule)."""
    from mlops.factory import default_args, midnight

    return {
        "dag_id": f"{spec.name}__{kind}",
        "start_date": midnight(spec.schedules.start_date, spec.schedules.timezone),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(spec),
        "tags": ["mlops", f"model:{spec.name}", kind, *spec.tags],
        **extra,
    }


def after_or_cron(spec: ModelSpec, after: Asset, cron: str | None) -> Any:
    """Run on each event of ``after``, or on ``cron`` (spec's timezone) when the spec sets one."""
    tz = spec.schedules.timezone
    return CronDataIntervalTimetable(cron, timezone=tz) if cron else [after]


def scoring_dag(spec: ModelSpec) -> DAG:
    """``<model>__scoring``: predictions for one day, with the traffic split of that day."""
    features = features_asset(spec)
    predictions = predictions_asset(spec)
    schedules = spec.schedules
    params = {
        DATE_PARAM: date_param(),
        "version": Param(
            None,
            type=["null", "string"],
            title="Force a version",
            description="Score every row with this registered version (empty: as served).",
        ),
    }
    with DAG(
        schedule=after_or_cron(spec, features, schedules.scoring),
        **dag_args(
            spec,
            "scoring",
            description=f"Batch scoring of {spec.name} (champion + challenger share)",
            doc_md=__doc__,
            params=params,
        ),
    ) as dag:

        @step(outlets=[predictions])
        def score(**context: Any) -> dict[str, Any]:
            from pipelines.promote import end_of_day, scoring_run

            day = partition_day(context, spec)
            version = (context.get("params") or {}).get("version") or None
            with step_errors(spec, "score", day):
                result = scoring_run(
                    settings.open_lake(),
                    spec,
                    day,
                    settings.tracking_uri(),
                    end_of_day(day, schedules.timezone),
                    f"airflow:{context['dag'].dag_id}/{context['run_id']}",
                    version=str(version) if version else None,
                )
            payload = result.to_dict()
            log.info("scored %s on %s: %s", spec.name, day, payload)
            if result.fallback:
                log.warning("challenger out of service: %s", result.fallback)
            facts = ("day", "rows", "champion", "challenger", "share")
            extra = {k: payload[k] for k in facts}
            emit(context, predictions, {**extra, "date": payload["day"]})
            metrics.scored(spec.name, payload["rows"])
            return payload

        with_links(score(), MODEL_VERSION, model=spec.name)
    return dag


def promotion_dag(spec: ModelSpec) -> DAG:
    """``<model>__promotion``: decide and apply one step; approvals wait for a person."""
    predictions = predictions_asset(spec)
    schedules = spec.schedules
    with DAG(
        schedule=after_or_cron(spec, predictions, schedules.promotion),
        **dag_args(
            spec,
            "promotion",
            description=f"Promotion of {spec.name} ({spec.promotion.strategy})",
            doc_md=__doc__,
            params=promotion_params(spec),
        ),
    ) as dag:

        def run_time(context: dict[str, Any]) -> datetime:
            """The decision's time: end of the scored day, or the cron interval's end."""
            from pipelines.promote import end_of_day

            if schedules.promotion and not (context.get("params") or {}).get(DATE_PARAM):
                return context["data_interval_end"]
            return end_of_day(partition_day(context, spec), schedules.timezone)

        def run_promotion(context: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            from pipelines.errors import ConcurrentPromotionError, PromotionError
            from pipelines.promote import promotion_run

            actor = kwargs.pop("by", None) or f"airflow:{dag.dag_id}/{context['run_id']}"
            now = run_time(context)
            try:
                result = promotion_run(
                    settings.open_lake(), spec, settings.tracking_uri(), now, actor, **kwargs
                )
            except ConcurrentPromotionError as exc:
                raise AirflowFailException(str(exc)) from exc
            except PromotionError as exc:
                raise AirflowFailException(f"{spec.name}: {exc}") from exc
            log.info("%s promotion at %s: %s", spec.name, now, result)
            promotion_applied(spec.name, result)
            return {**result, "at": now.isoformat()}

        @step()
        def decide(**context: Any) -> dict[str, Any]:
            """Decide; every decision but an approval is applied here (compare-and-set).
            From the form, a person's ``advance`` or ``abort`` is applied instead."""
            params = context.get("params") or {}
            if params.get("action", "decide") == "decide":
                return run_promotion(context)
            return run_manual(context, params)

        def run_manual(context: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
            from pipelines.errors import PromotionError
            from pipelines.promote import manual_run

            actor, why = decided_by(context, None), str(params.get("reason") or "")
            now = run_time(context) if params.get(DATE_PARAM) else datetime.now(UTC)
            try:
                result = manual_run(
                    settings.open_lake(),
                    spec,
                    settings.tracking_uri(),
                    params["action"],
                    why,
                    now,
                    actor,
                )
            except PromotionError as exc:
                raise AirflowFailException(str(exc)) from exc
            log.info("%s: %s by %s: %s", spec.name, params["action"], actor, result)
            promotion_applied(spec.name, {**result, "applied": True, "why": why})
            return {**result, "at": now.isoformat(), "by": actor}

        @task.short_circuit
        def needs_approval(decision: dict[str, Any]) -> bool:
            return decision["action"] == "await_approval"

        approve = HITLOperator(
            task_id="approve",
            subject=f"Promote {spec.name}: " + "{{ ti.xcom_pull(task_ids='decide')['why'] }}",
            body=(
                "Challenger v{{ ti.xcom_pull(task_ids='decide')['version'] }} vs champion "
                "v{{ ti.xcom_pull(task_ids='decide')['champion'] }}. Live evidence: "
                "{{ ti.xcom_pull(task_ids='decide')['metrics'] }}"
            ),
            options=[APPROVE, REJECT],
            response_timeout=timedelta(days=7),
        )

        @step()
        def apply_approved(decision: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Carry out the approved step, unless the state moved while waiting."""
            response = context["ti"].xcom_pull(task_ids="approve") or {}
            actor = decided_by(context, response)
            if response.get("chosen_options") != [APPROVE]:
                log.info("%s: %s rejected by %s", spec.name, decision["why"], actor)
                return {**decision, "action": "rejected", "by": actor}
            return run_promotion(context, approved=True, expected_seq=decision["seq"], by=actor)

        decided = with_links(decide(), MODEL_VERSION, model=spec.name)
        needs_approval(decided) >> approve >> apply_approved(decided)
    return dag


def promotion_applied(model: str, result: dict[str, Any]) -> None:
    """Count an applied transition; alert on the ones that take a version out of service."""
    from mlops import notify

    if not result.get("applied"):
        return
    action = result["action"]
    metrics.promotion(model, action)
    if action in ("rollback", "abort"):
        text = f"{model}: {action} - champion is now v{result.get('champion')}"
        notify.send(action, f"{text} ({result.get('why', '')})", result)


def promotion_params(spec: ModelSpec) -> dict[str, Param]:
    """The promotion form: let the strategy decide, or advance / abort the rollout by hand."""
    return {
        DATE_PARAM: date_param(),
        "action": Param(
            "decide",
            type="string",
            enum=["decide", "advance", "abort"],
            title="Action",
            description=(
                f"decide: the {spec.promotion.strategy} strategy decides on the evidence (what "
                "the schedule does). advance: move the challenger one step now (or start its "
                "rollout). abort: take the challenger out of service; the champion stays."
            ),
        ),
        "reason": reason_param(
            "Why: required for advance and abort; recorded in the history.", required=False
        ),
    }


def rollback_dag(specs: dict[str, ModelSpec]) -> DAG:
    """``mlops__rollback``: a person restores a model's previous (or a chosen) version."""
    names = sorted(specs)
    with DAG(
        dag_id=ROLLBACK_DAG_ID,
        description="Make a model's previous (or a chosen) version champion again, recorded",
        doc_md=__doc__,
        schedule=None,
        start_date=datetime(2013, 1, 1, tzinfo=UTC),
        catchup=False,
        tags=["mlops", "promotion", "rollback"],
        default_args=platform_args(),
        params={
            "model": Param(
                names[0] if names else "", type="string", enum=names or [""], title="Model"
            ),
            "version": Param(
                None,
                type=["null", "string"],
                title="Version",
                description="Registered version to make champion (empty: the previous one).",
            ),
            "reason": Param(
                "",
                type="string",
                minLength=3,
                maxLength=500,
                title="Reason",
                description="Why: recorded in the promotion history and on the versions.",
            ),
        },
    ) as dag:

        @step()
        def rollback(**context: Any) -> dict[str, Any]:
            from pipelines.errors import PromotionError
            from pipelines.promote import rollback_run

            params = context["params"]
            if params["model"] not in specs:
                raise AirflowFailException(f"unknown model {params['model']!r}; known: {names}")
            actor = decided_by(context, None)
            try:
                result = rollback_run(
                    settings.open_lake(),
                    specs[params["model"]],
                    settings.tracking_uri(),
                    str(params["version"]) if params.get("version") else None,
                    params["reason"],
                    datetime.now(UTC),
                    actor,
                )
            except PromotionError as exc:
                raise AirflowFailException(str(exc)) from exc
            log.info("rollback by %s: %s", actor, result)
            done = {**result, "action": "rollback", "applied": True, "why": params["reason"]}
            promotion_applied(params["model"], done)
            return result

        with_links(rollback(), MODEL_VERSION)
    return dag
