"""The Airflow UI plugin and the trigger forms, through Airflow's own API server app.

Two real nights of flight_delay run with dag.test (a champion is registered); then, in
process, Airflow's FastAPI app (with the plugin found through the installed package's
``airflow.plugins`` entry point, no plugins folder) answers: the models
page, each task button's URL as the UI gets it from the extra-links API, where that URL
leads, the reports, and the trigger forms' validation. Anonymous requests are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from mlflow import MlflowClient

from pipelines.core.storage import Lake

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MLFLOW_UI = "http://mlflow.example.test:5000"


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory, airflow_db):
    """flight_delay trained through Airflow over three nights (the third version is the
    champion), its own lake and MLflow store (module-wide)."""
    from tests.mlops.test_dags import dagbag

    folder = tmp_path_factory.mktemp("ui")
    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_VAR_MLOPS_LAKE_URI", str(folder / "lake"))
        patch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI", tracking)
        patch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_ARTIFACT_ROOT", str(folder / "artifacts"))
        patch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_UI_URL", MLFLOW_UI)
        dag = dagbag().dags["flight_delay__training"]
        dag.test(logical_date=datetime(2013, 1, 2, 7, 0, tzinfo=UTC))
        dag.test(run_conf={"partition_date": "2013-01-02"})  # too few labels to crown one
        run = dag.test(run_conf={"partition_date": "2013-01-03"})
        assert str(run.state) == "success"
        yield run, Lake(str(folder / "lake")), MlflowClient(tracking)


@pytest.fixture(scope="module")
def api(two_nights):
    """Airflow's API server app (plugins included) and a logged-in user's headers; every
    DAG is in the metadata DB, as the dag-processor would leave it."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from fastapi.testclient import TestClient

    from tests.mlops.test_dags import dagbag

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(dagbag(), "dags-folder", None)

    client = TestClient(create_app(), follow_redirects=False)
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="ana", role="admin"))
    return client, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def test_the_plugin_comes_from_the_packages_entry_point():
    """Where the DAGs folder is not mounted (the Helm chart's API server), the installed
    package still brings the plugin."""
    from airflow import plugins_manager

    from mlops.ui.plugin import MlopsPlugin

    plugins, errors = plugins_manager._get_plugins()
    assert errors == {}
    (found,) = [p for p in plugins if p.name == "mlops"]
    assert isinstance(found, MlopsPlugin)
    assert "entrypoint" in str(found.source).lower() or "mlops-pipelines" in str(found.source)


@pytest.fixture
def stores(two_nights, monkeypatch):
    """The module's stores, as the API server's Variables (set per test by monkeypatch)."""
    run, lake, client = two_nights
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_LAKE_URI", lake.root)
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI", client.tracking_uri)
    monkeypatch.setenv("AIRFLOW_VAR_MLOPS_MLFLOW_UI_URL", MLFLOW_UI)
    return run, lake, client


def test_every_plugin_route_refuses_anonymous_requests(api, stores):
    client, _ = api
    run, _, _ = stores
    query = {"dag_id": run.dag_id, "run_id": run.run_id, "task_id": "train"}
    for path in ("/mlops/models", "/mlops/api/models", "/mlops/links/mlflow_run"):
        response = client.get(path, params=query)
        assert response.status_code == 401, path
    path = "/mlops/lake/validation/flights/date=2013-01-02/report.html"
    assert client.get(path).status_code == 401
    from fastapi.testclient import TestClient

    forged = TestClient(client.app, cookies={"_token": "forged"})
    assert forged.get("/mlops/models").status_code in (401, 403)


def test_models_page_shows_the_champion_validation_and_gate(api, stores):
    client, headers = api
    _, _, mlflow = stores
    version = mlflow.get_model_version_by_alias("flight_delay", "champion")

    models = {m["model"]: m for m in client.get("/mlops/api/models", headers=headers).json()}
    flight = models["flight_delay"]
    assert [(v["alias"], v["version"]) for v in flight["versions"]] == [
        ("champion", str(version.version))
    ]
    assert flight["versions"][0]["trained_for"] == "2013-01-03"
    assert flight["last_validation"]["date"] == "2013-01-03"
    assert flight["last_validation"]["status"] in ("pass", "warn")
    assert flight["last_gate"]["decision"] == version.tags["mlops.gate.decision"]
    assert flight["history"] == []  # no promotion run yet: nothing written by reading

    page = client.get("/mlops/models", headers=headers)
    assert page.status_code == 200
    html = page.text
    assert "flight_delay" in html and "synthetic_demand" in html
    assert f"{MLFLOW_UI}/#/models/flight_delay/versions/{version.version}" in html
    assert "/dags/flight_delay__training" in html and "/dags/mlops__rollback" in html
    assert "/mlops/lake/validation/flights/date=2013-01-03/report.html" in html


def extra_links(client, headers, run, task_id: str) -> dict[str, str]:
    """The task's buttons, as the UI asks for them."""
    path = f"/api/v2/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}/links"
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["extra_links"]


def test_task_buttons_lead_to_the_mlflow_run_version_and_report(api, stores):
    client, headers = api
    run, lake, mlflow = stores
    version = mlflow.get_model_version_by_alias("flight_delay", "champion")

    train_links = extra_links(client, headers, run, "train")
    assert set(train_links) == {"MLflow run", "Model version"}
    entries = f"/api/v2/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/train/xcomEntries"
    keys = {e["key"] for e in client.get(entries, headers=headers).json()["xcom_entries"]}
    # One result, not one XCom per key, plus where each button leads.
    assert keys == {"return_value", "_link_mlops_mlflow_run", "_link_mlops_model_version"}
    to_run = client.get(train_links["MLflow run"], headers=headers)
    assert to_run.status_code == 307
    experiment = mlflow.get_run(version.run_id).info.experiment_id
    expected = f"{MLFLOW_UI}/#/experiments/{experiment}/runs/{version.run_id}"
    assert to_run.headers["location"] == expected
    to_version = client.get(train_links["Model version"], headers=headers)
    location = to_version.headers["location"]
    assert location == f"{MLFLOW_UI}/#/models/flight_delay/versions/{version.version}"

    (report_link,) = extra_links(client, headers, run, "validate").values()
    assert urlsplit(report_link).path == "/mlops/links/validation_report"
    report = client.get(report_link, headers=headers)
    assert report.status_code == 200
    assert report.content == lake.read_bytes("validation/flights/date=2013-01-03/report.html")
    assert_sandboxed(report)


def assert_sandboxed(response) -> None:
    """A report runs in an opaque origin: its scripts run, Airflow's session is out of reach."""
    policy = response.headers["content-security-policy"].split()
    assert policy[0] == "sandbox" and "allow-scripts" in policy
    assert "allow-same-origin" not in policy  # that would give the session back
    assert response.headers["x-content-type-options"] == "nosniff"


def test_reports_from_the_lake_are_sandboxed(api, stores):
    client, headers = api
    _, lake, _ = stores
    path = "validation/flights/date=2013-01-03/report.html"
    response = client.get(f"/mlops/lake/{path}", headers=headers)
    assert response.status_code == 200 and response.content == lake.read_bytes(path)
    assert_sandboxed(response)


def test_a_button_with_nothing_behind_it_says_why(api, stores):
    client, headers = api
    run, _, _ = stores
    query = {"dag_id": run.dag_id, "run_id": "no-such-run", "task_id": "train"}
    response = client.get("/mlops/links/mlflow_run", params=query, headers=headers)
    assert response.status_code == 404
    assert "has no result" in response.text
    response = client.get("/mlops/links/nowhere", params=query, headers=headers)
    assert response.status_code == 404
    sneaky = {**query, "run_id": run.run_id, "model": "../../raw/flights"}
    response = client.get("/mlops/links/drift_report", params=sneaky, headers=headers)
    assert response.status_code == 404 and "no drift report" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "validation/flights/date=2013-01-02/../../../raw/flights/date=2013-01-02/part-0.parquet",
        "raw/flights/date=2013-01-02/part-0.parquet",
        "validation/flights/date=2013-01-02/result.txt",
        "promotions/flight_delay/history/1.json",
    ],
)
def test_only_reports_are_served_from_the_lake(api, stores, path):
    client, headers = api
    response = client.get(f"/mlops/lake/{path}", headers=headers)
    assert response.status_code == 404
    assert b"PAR1" not in response.content


def post_run(client, headers, dag_id: str, conf: dict):
    body = {"logical_date": None, "conf": conf}
    return client.post(f"/api/v2/dags/{dag_id}/dagRuns", json=body, headers=headers)


def runs_of(client, headers, dag_id: str) -> int:
    response = client.get(f"/api/v2/dags/{dag_id}/dagRuns", headers=headers)
    return response.json()["total_entries"]


@pytest.mark.parametrize(
    ("dag_id", "conf", "named"),
    [
        ("flight_delay__training", {"overrides": {"window_days": 0}}, "window_days"),
        ("flight_delay__training", {"overrides": {"learning_rate": 0.1}}, "learning_rate"),
        ("flight_delay__training", {"partition_date": "Jan 2"}, "partition_date"),
        ("flight_delay__promotion", {"action": "promote-everything"}, "action"),
        ("mlops__rollback", {"model": "flight_delay", "reason": ""}, "reason"),
        ("mlops__rollback", {"model": "no_such_model", "reason": "bad night"}, "model"),
        ("mlops__quarantine_review", {"action": "delete"}, "action"),
    ],
)
def test_trigger_forms_refuse_invalid_input_with_a_message(api, stores, dag_id, conf, named):
    client, headers = api
    before = runs_of(client, headers, dag_id)
    response = post_run(client, headers, dag_id, conf)
    assert response.status_code == 400, response.text
    assert named in response.text
    assert runs_of(client, headers, dag_id) == before  # nothing was started


def test_a_valid_retrain_form_starts_a_run_with_its_overrides(api, stores):
    client, headers = api
    conf = {
        "partition_date": "2013-01-02",
        "overrides": {"params": {"num_leaves": 15}, "window_days": 7},
        "reason": "try smaller trees",
    }
    response = post_run(client, headers, "flight_delay__training", conf)
    assert response.status_code == 200, response.text
    started = response.json()
    assert started["state"] == "queued"
    assert started["conf"]["overrides"] == conf["overrides"]
