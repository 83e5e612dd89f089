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

from datetime import UTC, datetime

from airflow.sdk import DAG

from mlops.assets import features_asset, predictions_asset
from mlops.dag_args import after_or_cron, model_dag_args, platform_args
from mlops.links import MODEL_VERSION, with_links
from mlops.params import promotion_params, rollback_params, scoring_params
from mlops.tasks.serving import (
    apply_approved_task,
    approval_operator,
    decide_task,
    needs_approval,
    rollback_task,
    score_task,
)
from pipelines.core.spec import ModelSpec

ROLLBACK_DAG_ID = "mlops__rollback"


def scoring_dag(spec: ModelSpec) -> DAG:
    """``<model>__scoring``: predictions for one day, with the traffic split of that day."""
    with DAG(
        schedule=after_or_cron(spec, features_asset(spec), spec.schedules.scoring),
        **model_dag_args(
            spec,
            "scoring",
            description=f"Batch scoring of {spec.name} (champion + challenger share)",
            doc_md=__doc__,
            params=scoring_params(),
        ),
    ) as dag:
        with_links(score_task(spec)(), MODEL_VERSION, model=spec.name)
    return dag


def promotion_dag(spec: ModelSpec) -> DAG:
    """``<model>__promotion``: decide and apply one step; approvals wait for a person."""
    with DAG(
        schedule=after_or_cron(spec, predictions_asset(spec), spec.schedules.promotion),
        **model_dag_args(
            spec,
            "promotion",
            description=f"Promotion of {spec.name} ({spec.promotion.strategy})",
            doc_md=__doc__,
            params=promotion_params(spec),
        ),
    ) as dag:
        decided = with_links(decide_task(spec)(), MODEL_VERSION, model=spec.name)
        needs_approval(decided) >> approval_operator(spec) >> apply_approved_task(spec)(decided)
    return dag


def rollback_dag(specs: dict[str, ModelSpec]) -> DAG:
    """``mlops__rollback``: a person restores a model's previous (or a chosen) version."""
    with DAG(
        dag_id=ROLLBACK_DAG_ID,
        description="Make a model's previous (or a chosen) version champion again, recorded",
        doc_md=__doc__,
        schedule=None,
        start_date=datetime(2013, 1, 1, tzinfo=UTC),
        catchup=False,
        tags=["mlops", "promotion", "rollback"],
        default_args=platform_args(),
        params=rollback_params(sorted(specs)),
    ) as dag:
        with_links(rollback_task(specs)(), MODEL_VERSION)
    return dag
