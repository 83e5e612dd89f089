"""The quarantine review's tasks: check the form, wait for a person's approval of accept or
discard, apply (or record the rejection), and start the model's training once released.

Steps are imported inside the task bodies (see ``mlops/tasks/__init__.py``).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException

from mlops import settings
from mlops.params import DATE_PARAM
from mlops.runtime import decided_by, step
from pipelines.core.errors import PipelineError
from pipelines.core.spec import load_spec

log = logging.getLogger(__name__)
APPROVE, REJECT = "Approve", "Reject"


def inspect_task(owners: dict[str, str]) -> Any:
    """Check the form and show what is quarantined; bad input fails with a message."""

    @step(task_id="inspect")
    def inspect(**context: Any) -> dict[str, Any]:
        from pipelines.validation.review import quarantine_entry

        params = context["params"]
        dataset, action, reason = params["dataset"], params["action"], params["reason"]
        if dataset not in owners:
            raise AirflowFailException(f"unknown dataset {dataset!r}; known: {sorted(owners)}")
        if not params.get("date"):
            raise AirflowFailException("choose the date of the quarantined partition")
        if action != "revalidate" and not str(reason).strip():
            raise AirflowFailException(f"{action} needs a reason: it is recorded")
        day = date.fromisoformat(params["date"])
        try:
            entry = quarantine_entry(settings.open_lake(), dataset, day)
        except PipelineError as exc:
            raise AirflowFailException(str(exc)) from exc
        summary = entry.to_dict()
        log.info("quarantined: %s", summary)
        body = "\n".join(
            [
                f"**{action}** `{dataset}` on {day} (model `{owners[dataset]}`).",
                f"Reason given: {reason or '-'}",
                f"{summary['rows']} rows; validation said:",
                *(f"- {line}" for line in summary["reasons"]),
            ]
        )
        return {**summary, "model": owners[dataset], "action": action, "body": body}

    return inspect


@task.branch
def route(info: dict[str, Any]) -> str:
    """``revalidate`` applies at once; ``accept`` and ``discard`` wait for approval."""
    return "apply" if info["action"] == "revalidate" else "approve"


def approval_operator() -> HITLOperator:
    return HITLOperator(
        task_id="approve",
        subject="{{ params.action }} quarantined {{ params.dataset }} {{ params.date }}?",
        body="{{ ti.xcom_pull(task_ids='inspect')['body'] }}",
        options=[APPROVE, REJECT],
        response_timeout=timedelta(days=7),
    )


@step(trigger_rule="none_failed_min_one_success")
def apply(info: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Carry out (or record the rejection of) the decision."""
    from pipelines.validation.decisions import record_decision
    from pipelines.validation.review import review

    params, lake = context["params"], settings.open_lake()
    day, dataset = date.fromisoformat(params["date"]), params["dataset"]
    response = context["ti"].xcom_pull(task_ids="approve")
    actor = decided_by(context, response)
    if response and response["chosen_options"] != [APPROVE]:
        record_decision(
            lake, dataset, day, info["action"], actor, params["reason"], info["sha256"], "rejected"
        )
        log.info("%s of %s %s rejected by %s", info["action"], dataset, day, actor)
        return {"released": False, "outcome": "rejected"}
    spec = load_spec(settings.models_dir() / f"{info['model']}.yaml")
    done = review(lake, spec, dataset, day, info["action"], actor, params["reason"])
    result = done["result"]
    released = bool(result and result["status"] != "block")
    log.info("decision %s; validation now: %s", done["decision"], result)
    return {
        "released": released,
        "outcome": done["decision"]["outcome"],
        "training_dag_id": f"{info['model']}__training",
        "date": day.isoformat(),
    }


@task.short_circuit
def released(outcome: dict[str, Any], **context: Any) -> bool:
    """Retrain only when the data came out clean and the form asked for it."""
    return bool(outcome["released"] and context["params"]["retrain"])


def retrain_operator() -> TriggerDagRunOperator:
    """The released date's training run of the model that reads the dataset."""
    return TriggerDagRunOperator(
        task_id="retrain",
        trigger_dag_id="{{ ti.xcom_pull(task_ids='apply')['training_dag_id'] }}",
        conf={DATE_PARAM: "{{ params.date }}"},
    )
