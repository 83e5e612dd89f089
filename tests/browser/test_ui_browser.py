"""The Airflow UI as a person uses it, in headless Debian chromium (playwright, no browser
download), against the live stack of tests/browser/conftest.py: log in, open the models page,
follow a task's MLflow button, submit the retrain form and watch the run train.

Screenshots go to ``$MLOPS_SCREENSHOTS`` (default: the stack's folder); docs/ui.md shows them.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.browser.conftest import CHROMIUM, PASSWORD, USER

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def shots(live_stack) -> Path:
    folder = Path(os.environ.get("MLOPS_SCREENSHOTS") or live_stack["state"] / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser, live_stack):
    """A logged-in page (Airflow's login form, SimpleAuthManager)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(live_stack["airflow"] + "/")
    page.wait_for_url("**/auth/login**")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_stack["airflow"] + "/")
    yield page
    context.close()


class Api:
    """Airflow's REST API with a token, to find runs and check what the UI did."""

    def __init__(self, base: str) -> None:
        self.base = base
        body = json.dumps({"username": USER, "password": PASSWORD}).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback
            self.token = json.load(response)["access_token"]

    def get(self, path: str) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(self.base + path, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback
            return json.load(response)

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]


def night_run(api: Api, night: str) -> str:
    (run,) = [
        r
        for r in api.runs("flight_delay__training")
        if r["conf"].get("partition_date") == night and not r["conf"].get("overrides")
    ]
    return run["dag_run_id"]


def test_an_anonymous_visitor_is_sent_to_the_login_form(browser, live_stack):
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(live_stack["airflow"] + "/mlops/models")
    assert response.status == 401
    page.goto(live_stack["airflow"] + "/plugin/mlops-models")
    page.wait_for_url("**/auth/login**")
    context.close()


def test_the_models_page_shows_the_champion(page, live_stack, shots):
    page.goto(live_stack["airflow"] + "/plugin/mlops-models")
    frame = page.frame_locator("iframe").first
    card = frame.locator(".card", has_text="flight_delay").first
    card.get_by_text("champion").first.wait_for()
    assert "2013-01-03" in card.inner_text()
    assert card.get_by_role("link", name="validation report").count() == 1
    page.screenshot(path=str(shots / "models-page.png"))
    views = Api(live_stack["airflow"]).get("/api/v2/plugins")["plugins"][0]["external_views"]
    assert {v["name"]: v["href"] for v in views} == {
        "Models": "mlops/models",
        "MLflow": live_stack["mlflow"],
    }


def test_a_task_button_opens_its_mlflow_run(page, live_stack, shots):
    api = Api(live_stack["airflow"])
    run_id = night_run(api, "2013-01-03")
    page.goto(
        f"{live_stack['airflow']}/dags/flight_delay__training/runs/{quote(run_id)}/tasks/train"
    )
    page.get_by_role("link", name="Details").click()
    button = page.get_by_role("link", name="MLflow run")
    button.wait_for()
    page.screenshot(path=str(shots / "task-links.png"))

    button.click()
    page.wait_for_url(live_stack["mlflow"] + "/**")
    page.get_by_text("flight_delay-2013-01-03").first.wait_for()
    assert "#/experiments/" in page.url and "/runs/" in page.url
    page.screenshot(path=str(shots / "mlflow-run.png"))


def test_the_retrain_form_starts_a_run_that_trains_with_the_overrides(page, live_stack, shots):
    from mlflow import MlflowClient

    api = Api(live_stack["airflow"])
    page.goto(live_stack["airflow"] + "/dags/flight_delay__training")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#element_partition_date").fill("2013-01-04")
    dialog.locator("#element_reason").fill("retrain with smaller trees")
    dialog.locator(".monaco-editor .view-lines").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text('{"params": {"num_leaves": 15}}')
    page.screenshot(path=str(shots / "retrain-form.png"))
    dialog.get_by_role("button", name="Trigger").click()
    try:
        dialog.wait_for(state="hidden", timeout=30_000)  # the UI closes it once the API accepts
    except Exception as exc:
        raise AssertionError(f"the form was not accepted: {dialog.inner_text()[-500:]}") from exc

    deadline, run = time.monotonic() + 300, None
    while time.monotonic() < deadline:
        started = [r for r in api.runs("flight_delay__training") if r["conf"].get("overrides")]
        run = started[0] if started else None
        if run and run["state"] in ("success", "failed"):
            break
        time.sleep(2)
    assert run is not None, "the form started no run"
    assert run["conf"]["overrides"] == {"params": {"num_leaves": 15}}
    assert run["state"] == "success", run
    page.goto(
        f"{live_stack['airflow']}/dags/flight_delay__training/runs/{quote(run['dag_run_id'])}"
    )
    page.get_by_text("train").first.wait_for()
    page.screenshot(path=str(shots / "retrain-run.png"))

    mlflow = MlflowClient(live_stack["mlflow"])
    (version,) = mlflow.search_model_versions(
        "name='flight_delay' and tags.`mlops.logical_date`='2013-01-04'"
    )
    assert version.tags["mlops.airflow.overrides"] == '{"params":{"num_leaves":15}}'
    assert version.tags["mlops.airflow.reason"] == "retrain with smaller trees"
    assert mlflow.get_run(version.run_id).data.params["lgb.num_leaves"] == "15"


HOSTILE_REPORT = """<!doctype html><title>report</title><pre id="out">scripts did not run</pre>
<script>
const seen = [];
try { seen.push("cookie:" + document.cookie); } catch (e) { seen.push("cookie-blocked"); }
try { seen.push("storage:" + localStorage.length); } catch (e) { seen.push("storage-blocked"); }
fetch("/api/v2/dags", {credentials: "include"})
  .then((r) => "api:" + r.status, () => "api-blocked")
  .then((api) => { seen.push(api); document.getElementById("out").textContent = seen.join(" "); });
</script>"""


def test_a_script_in_a_report_cannot_reach_the_viewers_session(page, live_stack):
    # a report is HTML built from data: one carrying a script (a value of the batch, or a
    # compromised report) is opened by a logged-in user
    path = "validation/flights/date=2099-12-31/report.html"
    target = Path(live_stack["state"]) / "lake" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(HOSTILE_REPORT)
    page.goto(live_stack["airflow"] + "/mlops/lake/" + path)
    out = page.locator("#out")
    out.filter(has_text="api").wait_for(timeout=15_000)
    seen = out.inner_text().split()
    # its scripts run (Evidently's charts need them), in an origin of their own
    assert seen[:2] == ["cookie-blocked", "storage-blocked"], seen
    assert seen[2] in ("api-blocked", "api:401", "api:403"), seen
