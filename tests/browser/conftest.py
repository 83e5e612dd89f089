"""A live stack for the browser tests: `airflow standalone` and an MLflow server, set up by
scripts/env.sh exactly as `make demo` sets them up, in a throwaway state folder.

Before Airflow starts, a short replay (three nights of flight_delay through `airflow dags
test`) leaves task instances, XComs, a champion and reports behind to look at.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack import shell_env

from tests.conftest import ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
USER, PASSWORD = "admin", "browser-test-pass"
NIGHTS = ("2013-01-01", "2013-01-02", "2013-01-03")


def stack_env(state: Path) -> dict[str, str]:
    """scripts/env.sh's environment for this state folder and two free ports."""
    overrides = {
        "MLOPS_STATE_DIR": str(state),
        "MLOPS_AIRFLOW_PORT": str(free_port()),
        "MLOPS_MLFLOW_PORT": str(free_port()),
    }
    return {**shell_env(overrides), "MLOPS_EXECUTION": "local"}


def wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")


def start(name: str, cmd: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen:
    out = (logs / f"{name}.log").open("w")
    return subprocess.Popen(
        cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory) -> Iterator[dict]:
    """Airflow (standalone) + MLflow on loopback after a three-night replay."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (see README, Tests)")
    state = tmp_path_factory.mktemp("stack")
    env = stack_env(state)
    home, logs = Path(env["AIRFLOW_HOME"]), state / "logs"
    for folder in (home, logs, state / "mlflow" / "artifacts", state / "lake"):
        folder.mkdir(parents=True, exist_ok=True)
    Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).write_text(
        json.dumps({USER: PASSWORD})
    )
    mlflow_port, airflow_port = env["MLOPS_MLFLOW_PORT"], env["MLOPS_AIRFLOW_PORT"]
    mlflow = start(
        "mlflow",
        [
            "mlflow", "server", "--host", "127.0.0.1", "--port", mlflow_port, "--workers", "1",
            "--backend-store-uri", f"sqlite:///{state / 'mlflow' / 'mlflow.db'}",
            "--artifacts-destination", str(state / "mlflow" / "artifacts"),
        ],
        {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # as scripts/demo.sh
        logs,
    )  # fmt: skip
    procs = [mlflow]
    try:
        wait_http(f"http://127.0.0.1:{mlflow_port}/health", 120, mlflow)
        run = {"env": env, "cwd": ROOT, "check": True, "capture_output": True, "timeout": 600}
        subprocess.run(["airflow", "db", "migrate"], **run)
        for night in NIGHTS:
            conf = json.dumps({"partition_date": night})
            subprocess.run(
                ["airflow", "dags", "test", "flight_delay__training", "--conf", conf], **run
            )
        airflow = start("airflow", ["airflow", "standalone"], env, logs)
        procs.append(airflow)
        base = f"http://127.0.0.1:{airflow_port}"
        wait_http(f"{base}/api/v2/monitor/health", 240, airflow)
        yield {
            "airflow": base,
            "mlflow": f"http://127.0.0.1:{mlflow_port}",
            "env": env,
            "state": state,
            "logs": logs,
        }
    finally:
        for proc in reversed(procs):
            stop(proc)
