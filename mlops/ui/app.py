"""The plugin's FastAPI app, mounted by Airflow's API server at ``/mlops``.

- ``/models``: the models page (``/api/models``: the same as JSON);
- ``/links/{kind}``: where a task button leads (redirect to MLflow, or the report);
- ``/lake/{path}``: a validation or Evidently report from the lake (reports only, never data),
  sandboxed in an origin of its own.

Every route sits behind Airflow's own authentication: the UI's session cookie or a bearer
token, and the user must be allowed to read DAGs. An anonymous request gets 401.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlops import settings
from mlops.links import PREFIX, TITLES, base_url
from mlops.ui import pages, resolve
from pipelines.core.registry import Registry
from pipelines.core.spec import load_specs

log = logging.getLogger(__name__)


def _requires_read() -> Any:
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag("GET"))


app = FastAPI(title="MLOps", dependencies=[_requires_read()])


def all_status() -> list[dict[str, Any]]:
    """Each valid spec's status; a model whose status cannot be read says why."""
    from pipelines.status import model_status  # the lake and MLflow: loaded on first view

    specs, _ = load_specs(settings.models_dir())
    lake, registry = settings.open_lake(), Registry(settings.tracking_uri())
    out = []
    for name, spec in sorted(specs.items()):
        try:
            out.append(model_status(lake, registry, spec).to_dict())
        except Exception as exc:  # one model's store trouble must not hide the others
            log.exception("status of %s", name)
            out.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
    return out


def _urls() -> dict[str, str]:
    return {"airflow": base_url(), "app": base_url() + PREFIX, "mlflow": settings.mlflow_ui_url()}


@app.get("/models", response_class=HTMLResponse)
def models_page() -> str:
    return pages.models_page(all_status(), _urls())


@app.get("/api/models")
def models_json() -> list[dict[str, Any]]:
    return all_status()


@app.get("/links/{kind}", response_model=None)
def follow_link(
    kind: str,
    dag_id: str = Query(...),
    run_id: str = Query(...),
    task_id: str = Query(...),
    model: str = Query(""),
) -> Response:
    if kind not in TITLES:
        raise HTTPException(404, f"unknown link {kind!r}; known: {sorted(TITLES)}")
    conf = _run_conf(dag_id, run_id)
    target = resolve.resolve(kind, model, dag_id, run_id, task_id, conf)
    if target.url:
        return RedirectResponse(target.url, status_code=307)
    if target.lake_path:
        return _report(target.lake_path)
    return HTMLResponse(pages.message_page(TITLES[kind], target.missing), status_code=404)


@app.get("/lake/{path:path}", response_model=None)
def lake_report(path: str) -> Response:
    return _report(path)


def _report(path: str) -> Response:
    if not resolve.is_report(path):  # also for paths built from a link's model and date
        raise HTTPException(404, "only validation and monitoring reports are served")
    lake = settings.open_lake()
    if not lake.exists_path(path):
        text = f"{path} is not in the lake (the step has not run for that date, or failed)"
        return HTMLResponse(pages.message_page("No report", text), status_code=404)
    media = "text/html" if path.endswith(".html") else "application/json"
    return Response(lake.read_bytes(path), media_type=media, headers=REPORT_HEADERS)


# A report is HTML built from data (Evidently's and GX's pages carry their own scripts and the
# values of the batch): it runs in a sandbox, an opaque origin of its own, so a script in it
# cannot read the Airflow UI's cookies, storage or API with the viewer's session. Its own
# scripts still run (the charts need them). nosniff: a JSON report is never run as a page.
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts allow-popups",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _run_conf(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one_or_none()
        return dict(run.conf or {}) if run else {}
