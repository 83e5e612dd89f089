"""Task buttons in the Airflow UI: from a project task to its MLflow run, model version,
validation report or drift report, in one click.

Each link points at the project's plugin app (``mlops/ui``), which looks at the task's
result when the button is clicked and redirects (or serves the report from the lake). The
link itself needs nothing but the task's ids, so it also works on a task that failed or was
skipped (a blocked batch still has its validation report), and it costs the worker nothing.
Airflow stores the URL in XCom when the task ends (``_link_<name>``); the UI reads it there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import attrs
from airflow.sdk import BaseOperatorLink

PREFIX = "/mlops"
MLFLOW_RUN, MODEL_VERSION = "mlflow_run", "model_version"
VALIDATION_REPORT, DRIFT_REPORT = "validation_report", "drift_report"
TITLES = {
    MLFLOW_RUN: "MLflow run",
    MODEL_VERSION: "Model version",
    VALIDATION_REPORT: "Validation report",
    DRIFT_REPORT: "Drift report",
}


def base_url() -> str:
    """The API server's base URL (``[api] base_url``; empty: links relative to the host)."""
    from airflow.sdk.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def link_url(
    kind: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1, model: str = ""
) -> str:
    query = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index}
    if model:
        query["model"] = model
    return f"{base_url()}{PREFIX}/links/{kind}?{urlencode(query)}"


@attrs.define
class MlopsLink(BaseOperatorLink):
    """One button; ``kind`` says where it leads, ``model`` whose (empty: the run's form)."""

    kind: str
    model: str = ""

    @property
    def name(self) -> str:
        return TITLES[self.kind]

    @property
    def xcom_key(self) -> str:
        return f"_link_mlops_{self.kind}"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        map_index = getattr(ti_key, "map_index", -1)
        ids = (ti_key.dag_id, ti_key.run_id, ti_key.task_id, map_index)
        return link_url(self.kind, *ids, model=self.model)


def with_links(task: Any, *kinds: str, model: str = "") -> Any:
    """Give a task (the XComArg a TaskFlow call returns, or an operator) these buttons."""
    operator = getattr(task, "operator", task)
    operator.operator_extra_links = [MlopsLink(kind, model) for kind in kinds]
    return task
