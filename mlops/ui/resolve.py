"""Where a task button leads, worked out when it is clicked (see ``mlops/links.py``).

The task's own result (its XCom ``return_value``, small JSON) names the MLflow run, the model
version and the date; a validation or drift report is a file at a fixed place in the lake for
(model, date), so it is found even when the task that wrote it skipped or failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast
from urllib.parse import quote

from mlops import settings
from mlops.links import DRIFT_REPORT, MLFLOW_RUN, MODEL_VERSION, VALIDATION_REPORT
from pipelines.core import layout
from pipelines.core.registry import Registry
from pipelines.core.spec import load_specs


@dataclass(frozen=True)
class Target:
    """A redirect (``url``), a report in the lake (``lake_path``), or why there is none."""

    url: str = ""
    lake_path: str = ""
    missing: str = ""


def run_results(dag_id: str, run_id: str) -> dict[str, Any]:
    """The return values of a run's tasks, by task id (unmapped tasks only)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    query = XComModel.get_many(run_id=run_id, key="return_value", dag_ids=dag_id, map_indexes=-1)
    with create_session() as session:
        # get_many's annotation says tuples; scalars() yields the XCom rows themselves
        rows = cast("list[XComModel]", session.scalars(query).all())
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def model_of(result: dict[str, Any], conf: dict[str, Any]) -> str:
    """The model of a task whose button does not name it (rollback): its result, its form."""
    return str(result.get("model") or conf.get("model") or "")


def run_day(task_id: str, results: dict[str, Any]) -> date | None:
    """The partition date: the task's own result, else any task of the run that says it."""
    ordered = [results.get(task_id) or {}, *results.values()]
    for result in ordered:
        if isinstance(result, dict):
            found = result.get("date") or result.get("day")
            if found:
                return date.fromisoformat(str(found)[:10])
    return None


def version_url(ui: str, model: str, version: str) -> str:
    """A model version's page in the MLflow UI."""
    return f"{ui}/#/models/{quote(model)}/versions/{version}"


def resolve(
    kind: str, model: str, dag_id: str, run_id: str, task_id: str, conf: dict[str, Any]
) -> Target:
    results = run_results(dag_id, run_id)
    found = results.get(task_id)
    result: dict[str, Any] = found if isinstance(found, dict) else {}
    model = model or model_of(result, conf)
    if kind in (VALIDATION_REPORT, DRIFT_REPORT):
        return _report(kind, model, run_day(task_id, results))
    if not result:
        return Target(missing=f"{dag_id}.{task_id} in {run_id} has no result: it did not finish")
    if kind == MLFLOW_RUN:
        return _mlflow_run(result)
    if kind == MODEL_VERSION:
        return _model_version(model, result)
    return Target(missing=f"unknown link kind {kind!r}")


def _report(kind: str, model: str, day: date | None) -> Target:
    """A (model, date)'s validation report (of its batch) or Evidently drift report."""
    specs, _ = load_specs(settings.models_dir())
    what = "validation" if kind == VALIDATION_REPORT else "drift"
    if model not in specs or day is None:
        return Target(missing=f"no {what} report: model {model!r}, date {day}")
    if kind == VALIDATION_REPORT:
        return Target(lake_path=layout.validation_report(specs[model].source.dataset, day))
    return Target(lake_path=layout.evidently_report(model, day))


def _mlflow_run(result: dict[str, Any]) -> Target:
    run_id = result.get("run_id")
    if not run_id:
        return Target(missing="this task logged no MLflow run")
    ui = settings.mlflow_ui_url()
    if not ui:
        return Target(missing=f"MLflow run {run_id} (set the Variable mlops_mlflow_ui_url)")
    experiment = Registry(settings.tracking_uri()).run(run_id).info.experiment_id
    return Target(url=f"{ui}/#/experiments/{experiment}/runs/{run_id}")


def _model_version(model: str, result: dict[str, Any]) -> Target:
    version = result.get("version") or result.get("champion")
    if not model or not version:
        return Target(missing="this task names no model version")
    ui = settings.mlflow_ui_url()
    if not ui:
        return Target(missing=f"{model} version {version} (set the Variable mlops_mlflow_ui_url)")
    return Target(url=version_url(ui, model, str(version)))


def is_report(path: str) -> bool:
    """Only report files under the report folders are served, never data."""
    parts = path.split("/")
    return (
        parts[0] in layout.REPORT_ZONES
        and ".." not in parts
        and path.endswith((".html", ".json"))
        and "" not in parts
    )
