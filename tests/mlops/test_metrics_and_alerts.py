"""Metrics and alerts from real DAG runs, caught by real listeners on loopback.

A StatsD listener (UDP) receives Airflow's own task metrics and the project's (gate outcome,
checks failed by severity, quarantined rows); a webhook (HTTP) receives the quarantine
alert of a broken night and the alert of a failed task. Airflow's ``[metrics]`` settings and
the ``mlops_alerts_webhook`` connection come from the environment, as in a deployment.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mlflow import MlflowClient

from tests.conftest import deploy_models, free_port, steady_synthetic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BROKEN = "2013-01-03"


@pytest.fixture
def statsd():
    """A StatsD server: every datagram received, as text lines."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    lines: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            lines.extend(data.decode().splitlines())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], lines
    stop.set()
    thread.join()
    sock.close()


@pytest.fixture
def webhook():
    """An HTTP endpoint that records the JSON bodies POSTed to it."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/mlops", received
    server.shutdown()


@pytest.fixture
def observed(monkeypatch, tmp_path, airflow_db, statsd, webhook):
    """synthetic_demand whose delivery of Jan 3 renames a column, metrics and alerts on."""
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    from mlops import metrics

    spec = steady_synthetic()
    spec["source"]["options"]["drift"] = [
        {"kind": "schema_break", "start": BROKEN, "columns": ["num_3"], "mode": "rename"}
    ]
    models, _, tracking = deploy_models(monkeypatch, tmp_path, spec)
    port, lines = statsd
    url, received = webhook
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLOPS_ALERTS_WEBHOOK", json.dumps({"conn_type": "http", "host": url})
    )
    # What the task runner's main() does in a worker; dag.test runs tasks in this process.
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    metrics._backend.cache_clear()
    yield models, lines, received, MlflowClient(tracking)
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    metrics._backend.cache_clear()


def wait_for(lines: list[str], prefix: str, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(lines) if line.startswith(prefix)]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no metric {prefix!r} among {sorted(set(lines))[:40]}")


def test_metrics_reach_statsd_and_alerts_reach_the_webhook(observed):
    from tests.mlops.test_validation_dag_run import dags

    models, lines, received, mlflow = observed
    training = dags(models)["synthetic_demand__training"]
    for night in ("2013-01-01", "2013-01-02"):
        assert str(training.test(run_conf={"partition_date": night}).state) == "success"

    # Airflow's own task metrics and the project's gate outcome.
    assert wait_for(lines, "airflow.ti.finish")
    assert wait_for(lines, "airflow.mlops.gate.synthetic_demand.")
    assert wait_for(lines, "airflow.mlops.validation.checks_failed.synthetic_demand.block:0|c")
    assert not [alert for alert in received if alert["event"] == "quarantine"]

    run = training.test(run_conf={"partition_date": BROKEN})
    assert str(run.state) == "success"  # blocked: validate and after are skipped
    (blocked,) = wait_for(lines, "airflow.mlops.validation.blocked.synthetic_demand")
    assert blocked == "airflow.mlops.validation.blocked.synthetic_demand:1|c"
    quarantined = wait_for(lines, "airflow.mlops.validation.quarantined_rows.synthetic_demand")
    assert any(int(line.split(":")[1].split("|")[0]) > 0 for line in quarantined)
    (alert,) = [alert for alert in received if alert["event"] == "quarantine"]
    assert BROKEN in alert["text"] and "synthetic_demand" in alert["text"]
    assert alert["facts"]["status"] == "block" and alert["facts"]["reason_codes"]

    # A task that fails: the rollback of a model with no previous version.
    champion = mlflow.get_model_version_by_alias("synthetic_demand", "champion").version
    rollback = dags(models)["mlops__rollback"]
    conf = {"model": "synthetic_demand", "reason": "test the alert path"}
    run = rollback.test(run_conf=conf)
    assert str(run.state) == "failed"
    failed = [alert for alert in received if alert["event"] == "task_failed"]
    assert failed and failed[0]["facts"]["dag_id"] == "mlops__rollback"
    assert "no previous version" in failed[0]["text"]
    assert mlflow.get_model_version_by_alias("synthetic_demand", "champion").version == champion


def test_without_a_webhook_the_alert_is_logged_and_a_dead_one_fails_nothing(
    monkeypatch, airflow_db, caplog, capsys
):
    from mlops import notify

    def logged() -> str:  # Airflow's logging setup may route records to stdout instead
        return caplog.text + capsys.readouterr().out

    monkeypatch.delenv("AIRFLOW_CONN_MLOPS_ALERTS_WEBHOOK", raising=False)
    with caplog.at_level("WARNING", logger="mlops.notify"):
        assert notify.send("rollback", "flight_delay: rollback to v1", {"v": 1}) == ["log"]
        assert "mlops alert [rollback]: flight_delay: rollback to v1" in logged()

    dead = f"http://127.0.0.1:{free_port()}/hook"
    conn = json.dumps({"conn_type": "http", "host": dead})
    monkeypatch.setenv("AIRFLOW_CONN_MLOPS_ALERTS_WEBHOOK", conn)
    with caplog.at_level("WARNING", logger="mlops.notify"):
        assert notify.send("abort", "flight_delay: abort", {}) == ["log"]
        assert f"webhook {dead} failed" in logged()


def test_an_alert_is_mailed_through_the_smtp_connection(monkeypatch, airflow_db):
    from aiosmtpd.controller import Controller

    from mlops import notify

    class Inbox:
        def __init__(self) -> None:
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope) -> str:
            self.messages.append(envelope)
            return "250 OK"

    inbox, port = Inbox(), free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        smtp = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "mlops@example.test"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
        monkeypatch.setenv("AIRFLOW_VAR_MLOPS_ALERT_EMAILS", "oncall@example.test, ml@example.test")
        monkeypatch.delenv("AIRFLOW_CONN_MLOPS_ALERTS_WEBHOOK", raising=False)
        sent = notify.send("rollback", "flight_delay: rollback to v1", {"champion": "1"})
    finally:
        server.stop()
    assert sent == ["log", "email"]
    (message,) = inbox.messages
    assert sorted(message.rcpt_tos) == ["ml@example.test", "oncall@example.test"]
    body = message.content.decode()
    assert "Subject: [mlops] rollback: flight_delay: rollback to v1" in body
