"""``mlops__quarantine_review``: a person replays, accepts or discards a quarantined batch.

Trigger it from the UI with the form (dataset, date, action, reason). ``revalidate`` runs the
current contract again (after fixing the data or the spec) at once; ``accept`` and ``discard``
wait for an approval in Airflow's Required Actions (human-in-the-loop). Every outcome, a
rejection included, is recorded under ``decisions/`` in the lake
(pipelines/validation/review.py). A batch that is released can start its model's training
run for that date.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG

from mlops import settings
from mlops.dag_args import platform_args
from mlops.params import review_params
from mlops.tasks.review import (
    apply,
    approval_operator,
    inspect_task,
    released,
    retrain_operator,
    route,
)
from pipelines.core.layout import labels_dataset
from pipelines.core.spec import ModelSpec, load_specs

DAG_ID = "mlops__quarantine_review"


def datasets_by_name(specs: dict[str, ModelSpec]) -> dict[str, str]:
    """Every validated dataset and the model whose contract judges it."""
    out: dict[str, str] = {}
    for spec in specs.values():
        out[spec.source.dataset] = spec.name
        out[labels_dataset(spec.source.dataset)] = spec.name
    return out


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
        info = inspect_task(owners)()
        branch = route(info)
        approve = approval_operator()
        outcome = apply(info)
        branch >> [approve, outcome]
        approve >> outcome
        released(outcome) >> retrain_operator()
    return dag
