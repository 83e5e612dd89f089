"""The DAG factory: model specs in, Airflow DAGs out (training, retraining, scoring,
promotion, monitoring).

``dags_from_specs()`` builds every valid spec's DAGs and logs the invalid ones;
``raise_for_bad_specs()`` (called by ``dags/check_model_specs.py``) turns the invalid ones
into a DAG import error in the UI, so one broken spec never hides the others' DAGs.
"""

from __future__ import annotations

import logging

from airflow.sdk import DAG

from mlops import settings
from mlops.builders.monitoring import monitoring_dag
from mlops.builders.serving import promotion_dag, scoring_dag
from mlops.builders.training import retraining_dag, training_dag
from pipelines.core.errors import SpecError
from pipelines.core.spec import load_specs

log = logging.getLogger(__name__)
BUILDERS = (training_dag, retraining_dag, scoring_dag, promotion_dag, monitoring_dag)


def dags_from_specs() -> dict[str, DAG]:
    """Every DAG of every valid spec, by dag_id (bad specs are logged and left out)."""
    good, bad = load_specs(settings.models_dir())
    for path, error in bad.items():
        log.error("skipping invalid model spec %s: %s", path, error)
    dags = {}
    for spec in good.values():
        for build in BUILDERS:
            dag = build(spec)
            dags[dag.dag_id] = dag
    return dags


def raise_for_bad_specs() -> None:
    """Raise one SpecError listing every invalid spec file and field."""
    _, bad = load_specs(settings.models_dir())
    if bad:
        raise SpecError("\n".join(str(error) for error in bad.values()))
