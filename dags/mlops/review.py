"""``mlops__quarantine_review``: a person replays, accepts or discards a quarantined batch.

Trigger it from the UI with the form (dataset, date, action, reason). ``revalidate`` runs the
current contract again (after fixing the data or the spec) at once; ``accept`` and ``discard``
wait for an approval in Airflow's Required Actions (human-in-the-loop). Every outcome, a
rejection included, is recorded under ``decisions/`` in the lake (pipelines/review.py). A batch
that is released can start its model's training run for that date.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from mlops import settings
from mlops.tasks import platform_args, step
from pipelines.sources import labels_dataset
from pipelines.spec import ModelSpec, load_specs

log = logging.getLogger(__name__)

DAG_ID = "mlops__quarantine_review"
APPROVE, REJECT = "Approve", "Reject"
ACTIONS = ["revalidate", "accept", "discard"]


def datasets_by_name(specs: dict[str, ModelSpec]) -> dict[str, str]:
    """Every validated dataset and the model whose contract judges it."""
    out: dict[str, str] = {}
    for spec in specs.values():
        out[spec.source.dataset] = spec.name
        out[labels_dataset(spec)] = spec.name
    return out


def review_params(datasets: list[str]) -> dict[str, Param]:
    return {
        "dataset": Param(
            datasets[0] if datasets else "",
            type="string",
            enum=datasets or [""],
            title="Dataset",
            description="The quarantined dataset (a model's batch or its labels).",
        ),
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Partition date",
            description="Date of the quarantined partition (YYYY-MM-DD).",
        ),
        "action": Param(
            "revalidate",
            type="string",
            enum=ACTIONS,
            title="Action",
            description=(
                "revalidate: run the current contract again (after a fix). accept: publish "
                "as is (needs approval). discard: set it aside for good (needs approval)."
            ),
        ),
        "reason": Param(
            "",
            type="string",
            maxLength=500,
            title="Reason",
            description="Why: recorded with the decision. Required for accept and discard.",
        ),
        "retrain": Param(
            True,
            type="boolean",
            title="Retrain when released",
            description="Start the model's training run for that date once the data is clean.",
        ),
    }


def review_dag() -> DAG:
    specs, _ = load_specs(settings.models_dir())
    owners = datasets_by_name(specs)
    with DAG(
        dag_id=DAG_ID,
        description="Replay, accept or discard a quarantined batch (audited)",
        doc_md=__doc__,
        schedule=None,
        start_date=datetime(2013, 1, 1, tzinfo=UTC),
        catchup=False,
        tags=["mlops", "validation", "quarantine"],
        params=review_params(sorted(owners)),
        default_args=platform_args(),
    ) as dag:

        @step()
        def inspect(**context: Any) -> dict[str, Any]:
            """Check the form and show what is quarantined; bad input fails with a message."""
            from pipelines.errors import PipelineError
            from pipelines.review import quarantine_entry

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

        @task.branch
        def route(info: dict[str, Any]) -> str:
            return "apply" if info["action"] == "revalidate" else "approve"

        approve = HITLOperator(
            task_id="approve",
            subject="{{ params.action }} quarantined {{ params.dataset }} {{ params.date }}?",
            body="{{ ti.xcom_pull(task_ids='inspect')['body'] }}",
            options=[APPROVE, REJECT],
            response_timeout=timedelta(days=7),
        )

        @step(trigger_rule="none_failed_min_one_success")
        def apply(info: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Carry out (or record the rejection of) the decision."""
            from pipelines.review import record_decision, review
            from pipelines.spec import load_spec

            params, lake = context["params"], settings.open_lake()
            day, dataset = date.fromisoformat(params["date"]), params["dataset"]
            response = context["ti"].xcom_pull(task_ids="approve")
            actor = decided_by(context, response)
            if response and response["chosen_options"] != [APPROVE]:
                record_decision(
                    lake,
                    dataset,
                    day,
                    info["action"],
                    actor,
                    params["reason"],
                    info["sha256"],
                    "rejected",
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
            return bool(outcome["released"] and context["params"]["retrain"])

        retrain = TriggerDagRunOperator(
            task_id="retrain",
            trigger_dag_id="{{ ti.xcom_pull(task_ids='apply')['training_dag_id'] }}",
            conf={"partition_date": "{{ params.date }}"},
        )

        info = inspect()
        branch = route(info)
        outcome = apply(info)
        branch >> [approve, outcome]
        approve >> outcome
        released(outcome) >> retrain
    return dag


def decided_by(context: dict[str, Any], response: dict[str, Any] | None) -> str:
    """Who decided: the approver, else the user who triggered the run."""
    if response and response.get("responded_by_user"):
        user = response["responded_by_user"]
        return str(user.get("name") or user.get("id"))
    run = context.get("dag_run")
    return str(getattr(run, "triggering_user_name", None) or "airflow")
