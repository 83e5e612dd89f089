"""The compose file's MLflow server, configured as the file configures it (environment only,
nothing in argv), run for real on loopback: it keeps its runs in the store the environment
names, answers the Host names the environment allows and refuses others with 403, and its
command line carries no password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from pipelines.core.environment import QUIET_ENV
from scripts.stack import wait_http
from tests.conftest import free_port
from tests.deploy.test_compose import env, load

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BIN = Path(sys.executable).parent


def compose_mlflow_env(store: str, port: int) -> dict[str, str]:
    """The mlflow service's own variables, with the store and hosts of this machine."""
    settings = env(load()["services"]["mlflow"])
    assert settings["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql")  # replaced below
    return {
        **{k: v for k, v in settings.items() if "${" not in v and not k.startswith("AWS_")},
        "MLFLOW_BACKEND_STORE_URI": store,
        "MLFLOW_ARTIFACTS_DESTINATION": f"{Path(store.removeprefix('sqlite:///')).parent}/art",
        "MLFLOW_SERVER_ALLOWED_HOSTS": f"mlflow:5000,127.0.0.1:{port}",
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "http://proxy.example.com",
    }


def test_mlflow_takes_store_and_hosts_from_its_environment(tmp_path):
    port = free_port()
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    entrypoint = load()["services"]["mlflow"]["entrypoint"]
    command = [str(BIN / "mlflow"), *entrypoint[1:]]
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    command[command.index("--workers") + 1] = "1"
    settings = {**os.environ, **QUIET_ENV, **compose_mlflow_env(store, port)}
    log = tmp_path / "mlflow.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            command, env=settings, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", 120, log)
        search = f"{base}/api/2.0/mlflow/experiments/search"
        allowed = requests.post(search, json={"max_results": 5}, timeout=10)
        assert allowed.status_code == 200, allowed.text
        assert (tmp_path / "mlflow.db").exists()  # the store the environment named
        refused = requests.post(
            search, json={"max_results": 5}, headers={"Host": "evil.example.com"}, timeout=10
        )
        assert refused.status_code == 403
        named = requests.post(  # a name only the environment allows (not MLflow's default)
            search, json={"max_results": 5}, headers={"Host": "mlflow:5000"}, timeout=10
        )
        assert named.status_code == 200, named.text
        argv = " ".join(" ".join(p.cmdline()) for p in psutil.Process(server.pid).children(True))
        assert str(tmp_path) not in " ".join(command) + argv  # no store URI on a command line
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
