"""Tasks after training: score a day, decide and apply one promotion step (a person approves
the steps the spec names), and roll back by hand.

Steps are imported inside the task bodies (see ``mlops/tasks/__init__.py``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlops import metrics, notify, settings
from mlops.assets import predictions_asset
from mlops.params import DATE_PARAM
from mlops.runtime import decided_by, emit, partition_day, run_actor, step, step_errors
from pipelines.core.calendar import day_end
from pipelines.core.errors import PromotionError
from pipelines.core.spec import ModelSpec

log = logging.getLogger(__name__)
APPROVE, REJECT = "Approve", "Reject"
SCORED_FACTS = ("day", "rows", "champion", "challenger", "share")


def score_task(spec: ModelSpec) -> Any:
    """Score one day's features with the versions serving at the end of that day."""
    predictions = predictions_asset(spec)

    @step(task_id="score", outlets=[predictions])
    def score(**context: Any) -> dict[str, Any]:
        from pipelines.serving.runs import scoring_run

        day = partition_day(context, spec)
        version = (context.get("params") or {}).get("version") or None
        with step_errors(spec, "score", day):
            result = scoring_run(
                settings.open_lake(),
                spec,
                day,
                settings.tracking_uri(),
                day_end(day, spec.schedules.timezone),
                run_actor(context),
                version=str(version) if version else None,
            )
        payload = result.to_dict()
        log.info("scored %s on %s: %s", spec.name, day, payload)
        if result.fallback:
            log.warning("challenger out of service: %s", result.fallback)
        if result.caught_up:
            log.info(
                "%s: the champion also scored the days before it: %s", spec.name, result.caught_up
            )
        extra = {k: payload[k] for k in SCORED_FACTS}
        emit(context, predictions, {**extra, "date": payload["day"]}, result.days)
        metrics.scored(spec.name, payload["rows"])
        return payload

    return score


def decision_time(context: dict[str, Any], spec: ModelSpec) -> datetime:
    """A promotion decision's time: the end of the scored day, or the cron interval's end."""
    if spec.schedules.promotion and not (context.get("params") or {}).get(DATE_PARAM):
        end: datetime = context["data_interval_end"]
        return end
    return day_end(partition_day(context, spec), spec.schedules.timezone)


def run_promotion(context: dict[str, Any], spec: ModelSpec, **kwargs: Any) -> dict[str, Any]:
    """Decide and apply one step of the strategy (compare-and-set on the history)."""
    from pipelines.serving.runs import promotion_run

    actor = kwargs.pop("by", None) or run_actor(context)
    now, day = decision_time(context, spec), partition_day(context, spec)
    try:
        result = promotion_run(
            settings.open_lake(), spec, settings.tracking_uri(), now, actor, day=day, **kwargs
        )
    except PromotionError as exc:  # a concurrent run moved first, or a broken invariant
        raise AirflowFailException(f"{spec.name}: {exc}") from exc
    if result.get("repeated"):
        log.info("%s: already decided on %s: %s", spec.name, result.get("day"), result)
    else:
        log.info("%s promotion at %s: %s", spec.name, now, result)
    promotion_applied(spec.name, result)
    return {**result, "at": now.isoformat()}


def run_manual(context: dict[str, Any], spec: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
    """A person's ``advance`` or ``abort`` from the promotion form, recorded with the reason."""
    from pipelines.serving.runs import manual_run

    actor, why = decided_by(context, None), str(params.get("reason") or "")
    now = decision_time(context, spec) if params.get(DATE_PARAM) else datetime.now(UTC)
    try:
        result = manual_run(
            settings.open_lake(), spec, settings.tracking_uri(), params["action"], why, now, actor
        )
    except PromotionError as exc:
        raise AirflowFailException(str(exc)) from exc
    log.info("%s: %s by %s: %s", spec.name, params["action"], actor, result)
    promotion_applied(spec.name, {**result, "applied": True, "why": why})
    return {**result, "at": now.isoformat(), "by": actor}


def decide_task(spec: ModelSpec) -> Any:
    """Decide; every decision but an approval is applied here (compare-and-set). From the
    form, a person's ``advance`` or ``abort`` is applied instead."""

    @step(task_id="decide")
    def decide(**context: Any) -> dict[str, Any]:
        from pipelines.serving.runs import UNDECIDED

        params = context.get("params") or {}
        if params.get("action", "decide") != "decide":
            return run_manual(context, spec, params)
        result = run_promotion(context, spec)
        if result["action"] in UNDECIDED:  # a backfilled day, or one before the first champion
            raise AirflowSkipException(f"{spec.name}: {result['why']}")
        return result

    return decide


@task.short_circuit
def needs_approval(decision: dict[str, Any]) -> bool:
    """Go on to the approval only when the decision waits for a person."""
    return bool(decision["action"] == "await_approval")


def approval_operator(spec: ModelSpec) -> HITLOperator:
    """A Required Action in Airflow's UI: approve or reject the step ``decide`` proposed."""
    decided = "{{ ti.xcom_pull(task_ids='decide')"
    return HITLOperator(
        task_id="approve",
        subject=f"Promote {spec.name}: {decided}['why'] }}}}",
        body=(
            f"Challenger v{decided}['version'] }}}} vs champion v{decided}['champion'] }}}}. "
            f"Live evidence: {decided}['metrics'] }}}}"
        ),
        options=[APPROVE, REJECT],
        response_timeout=timedelta(days=7),
    )


def apply_approved_task(spec: ModelSpec) -> Any:
    """Carry out the approved step, unless the state moved while waiting."""

    @step(task_id="apply_approved")
    def apply_approved(decision: dict[str, Any], **context: Any) -> dict[str, Any]:
        response = context["ti"].xcom_pull(task_ids="approve") or {}
        actor = decided_by(context, response)
        if response.get("chosen_options") != [APPROVE]:
            log.info("%s: %s rejected by %s", spec.name, decision["why"], actor)
            return {**decision, "action": "rejected", "by": actor}
        return run_promotion(context, spec, approved=True, expected_seq=decision["seq"], by=actor)

    return apply_approved


def rollback_task(specs: dict[str, ModelSpec]) -> Any:
    """A person makes a model's ``previous`` (or a chosen) version champion again."""
    names = sorted(specs)

    @step(task_id="rollback")
    def rollback(**context: Any) -> dict[str, Any]:
        from pipelines.serving.runs import rollback_run

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

    return rollback


def promotion_applied(model: str, result: dict[str, Any]) -> None:
    """Count an applied transition; alert on the ones that take a version out of service."""
    if not result.get("applied"):
        return
    action = result["action"]
    metrics.promotion(model, action)
    if action in ("rollback", "abort"):
        text = f"{model}: {action} - champion is now v{result.get('champion')}"
        notify.send(action, f"{text} ({result.get('why', '')})", result)
