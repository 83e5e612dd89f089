"""The project's Airflow plugin: the models page, the MLflow UI in the nav bar, task buttons.

- ``fastapi_apps``: ``mlops/ui/app.py`` at ``/mlops`` (behind Airflow's login);
- ``external_views``: "Models" (that page, inside the UI) and "MLflow" (the tracking UI);
- task buttons (MLflow run, model version, validation and drift reports) are set on the
  project's tasks where the DAGs are built (``mlops/links.py``); the API server reads
  their URLs from XCom, so nothing has to be registered here for them.

Airflow finds this class through the package's ``airflow.plugins`` entry point
(``pyproject.toml``).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mlops import settings
from mlops.ui.app import app


def _mlflow_view() -> list[dict[str, str]]:
    """The MLflow UI in the nav bar, when one is configured (Variable or tracking server)."""
    try:
        url = settings.mlflow_ui_url()
    except Exception:  # no metadata DB yet (e.g. `airflow db migrate` loading plugins)
        return []
    return [{"name": "MLflow", "href": url, "destination": "nav"}] if url else []


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    fastapi_apps = [{"app": app, "url_prefix": "/mlops", "name": "MLOps models"}]
    external_views = [
        {
            "name": "Models",
            "href": "mlops/models",
            "url_route": "mlops-models",
            "destination": "nav",
        },
        *_mlflow_view(),
    ]
