"""The live stack of `make stack-up` (scripts/stack.py) for the stack and fault tests.

Airflow with the CeleryExecutor on this machine's PostgreSQL (databases of its own, dropped
at the end) and Redis (DB 9, flushed at the end), two workers, an MLflow server on
PostgreSQL with artifacts on S3, the lake on S3 (moto on loopback, reached through a
``TcpGate`` so a test can take S3 away without losing its data). The lake starts with two
nights of history written in-process; everything after goes through Airflow's REST API.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from gate import TcpGate
from stack import LAKE_BUCKET, S3_KEY, S3_SECRET, Stack, StackConfig, s3_client

from tests.conftest import MODELS, free_port, replay

MODEL = "flight_delay"
HISTORY = (date(2013, 1, 1), date(2013, 1, 2))  # written in-process before Airflow starts
FIRST_NIGHT = "2013-01-03"  # the first night with enough history to train
PASSWORD = "stack-test-pass"  # noqa: S105 - a throwaway local stack
TERMINAL = ("success", "failed")


class AirflowApi:
    """Airflow's REST API v2 with a bearer token from /auth/token (SimpleAuthManager)."""

    def __init__(self, base: str, user: str, password: str) -> None:
        self.base, self.token = base, ""
        login = {"username": user, "password": password}
        self.token = self.call("POST", "/auth/token", login)["access_token"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()}") from exc

    def unpause(self, dag_id: str, timeout: float = 120) -> None:
        """Unpause a DAG once the dag-processor has parsed it (a healthy dag-processor may
        not have reached the file yet)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
                return
            except AssertionError as exc:
                if " 404 " not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.call(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}
        )
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"])

    def tasks(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        found = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in found["task_instances"]}

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.call("GET", path + "?full_content=true")["content"]
        return "\n".join(
            json.dumps(line) if not isinstance(line, str) else line for line in content
        )

    def wait_task(self, dag_id: str, run_id: str, task_id: str, states: tuple, timeout: float):
        """Poll until the task is in one of ``states``; returns its task instance."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ti = self.tasks(dag_id, run_id).get(task_id) or {}
            if ti.get("state") in states:
                return ti
            time.sleep(0.5)
        raise AssertionError(f"{dag_id}.{task_id} not {states} in {timeout:.0f} s: {ti}")

    def wait(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, str | None]:
        """Poll the run to an end; returns its task states. A failed run shows its logs."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in TERMINAL:
                break
            time.sleep(1)
        tasks = self.tasks(dag_id, run_id)
        states = {task_id: ti["state"] for task_id, ti in tasks.items()}
        if state != "success":
            failed = [ti for ti in tasks.values() if ti["state"] not in ("success", "skipped")]
            logs = [
                self.log(dag_id, run_id, ti["task_id"], max(ti["try_number"], 1)) for ti in failed
            ]
            raise AssertionError(f"{dag_id} {run_id}: {state} {states}\n" + "\n".join(logs)[-6000:])
        return states


@dataclass
class Live:
    stack: Stack
    gate: TcpGate
    api: AirflowApi
    models: Path

    @property
    def s3(self) -> Any:
        """A client straight to moto (not through the gate): the test's own view of S3."""
        return s3_client(f"http://127.0.0.1:{self.stack.config.s3_port}")

    def lake_keys(self, prefix: str) -> list[str]:
        found = self.s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=f"lake/{prefix}")
        return sorted(o["Key"] for o in found.get("Contents", []))

    def lake(self) -> Any:
        from pipelines.core.storage import Lake

        options = {
            "key": S3_KEY,
            "secret": S3_SECRET,
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{self.stack.config.s3_port}"},
        }
        return Lake(f"s3://{LAKE_BUCKET}/lake", options)

    def mlflow(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(self.stack.mlflow_url)

    def versions(self, trained_on: str | None = None) -> list[Any]:
        """The model's registered versions (of one training date), oldest first."""
        found = self.mlflow().search_model_versions(f"name = '{MODEL}'")
        if trained_on:
            found = [v for v in found if v.tags.get("mlops.logical_date") == trained_on]
        return sorted(found, key=lambda v: int(v.version))

    def champion(self) -> str:
        return str(self.mlflow().get_model_version_by_alias(MODEL, "champion").version)


def stack_models(folder: Path) -> Path:
    """The flagship spec, retrying after 2 s instead of 30 (faults recover within a test)."""
    data = yaml.safe_load((MODELS / f"{MODEL}.yaml").read_text())
    data["retries"] = {"count": 2, "delay_seconds": 2, "max_delay_minutes": 1}
    models = folder / "models"
    models.mkdir()
    (models / f"{MODEL}.yaml").write_text(yaml.safe_dump(data))
    return models


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> Iterator[Live]:
    """The stack, up and healthy, with two nights of history in the S3 lake."""
    state = tmp_path_factory.mktemp("live-stack")
    models = stack_models(state)
    s3_port = free_port()
    gate = TcpGate(s3_port)
    gate.open()
    config = StackConfig(
        state=state,
        airflow_port=free_port(),
        mlflow_port=free_port(),
        s3_port=s3_port,
        db_prefix=f"mlops_test_{os.getpid()}",
        redis="redis://127.0.0.1:6379/9",
        s3_url=gate.url,
        models_dir=str(models),
        admin_password=PASSWORD,
        extra_env={
            # Faults are noticed and retried within seconds, so each test stays short.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        },
    )
    stack = Stack(config)
    try:
        stack.clean()
        stack.up()
        live = Live(stack, gate, AirflowApi(stack.airflow_url, "admin", PASSWORD), models)
        from pipelines.core.spec import load_spec

        replay(live.lake(), load_spec(models / f"{MODEL}.yaml"), HISTORY)
        for kind in ("training", "promotion"):
            live.api.unpause(f"{MODEL}__{kind}")
        yield live
    finally:
        stack.clean()
        gate.shut()


@pytest.fixture(scope="session")
def trained(live: Live) -> str:
    """The first night trained through the REST API: its version, crowned champion."""
    dag_id = f"{MODEL}__training"
    run_id = live.api.trigger(dag_id, {"partition_date": FIRST_NIGHT})
    states = live.api.wait(dag_id, run_id)
    assert states == dict.fromkeys(("ingest", "validate", "features", "train"), "success")
    (version,) = live.versions(FIRST_NIGHT)
    return str(version.version)
