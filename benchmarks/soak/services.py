"""The live system a soak drives, with every part it breaks reachable by name.

Two topologies: ``Standalone`` is `make demo`'s (``airflow standalone``: LocalExecutor on
SQLite, and an MLflow server on SQLite; the lake on local disk); ``StackServices`` is `make
stack-up`'s (scripts/stack.py: Celery, PostgreSQL, Redis, MLflow and the lake on S3, the S3
server behind a ``TcpGate`` so an outage keeps its data). Both answer ``take_down`` and
``bring_back`` for ``scheduler`` and ``mlflow``; the stack also for ``s3``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from scripts.gate import TcpGate
from scripts.stack import BIN, LAKE_BUCKET, S3_KEY, S3_SECRET, Stack, StackConfig

if TYPE_CHECKING:
    from pipelines.core.storage import Lake

# Faults are noticed within seconds: a lost task process in 30 s, the running tasks of a
# killed scheduler reset by its successor within a minute and a half (a dead scheduler's
# heartbeat is 30 s old, its orphans are looked for every 60 s; Airflow's default is 300),
# MLflow's client retries spread over about a minute (longer than the outages injected).
FAST_RECOVERY = {
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "60",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
    "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "6",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Standalone(Stack):
    """``airflow standalone`` and an MLflow server, as `make demo` runs them.

    Standalone does not restart a child that dies: a killed scheduler comes back as a process
    of the soak's own (``airflow scheduler``, same environment).
    """

    airflow_components = ("airflow",)

    def _environment(self) -> dict[str, str]:
        env = {**self._demo_environment(), "MLOPS_EXECUTION": "local"}
        if self.config.models_dir:
            env["MLOPS_MODELS_DIR"] = self.config.models_dir
        return {**env, **self.config.extra_env}

    def command(self, name: str) -> tuple[list[str], dict[str, str]]:
        airflow = str(BIN / "airflow")
        if name == "mlflow":
            store = self.state / "mlflow"
            return [
                str(BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.config.mlflow_port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{store / 'mlflow.db'}",
                "--artifacts-destination",
                str(store / "artifacts"),
            ], {**self.env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        if name == "airflow":
            return [airflow, "standalone"], self.env
        if name == "scheduler":
            return [airflow, "scheduler"], self.env
        raise SystemExit(f"unknown component {name!r}; one of airflow, scheduler, mlflow")

    def up(self) -> None:
        for folder in ("mlflow/artifacts", "lake", "airflow"):
            (self.state / folder).mkdir(parents=True, exist_ok=True)
        self._write_password_file()
        self.start("mlflow")
        airflow = str(BIN / "airflow")
        self.run(airflow, "db", "migrate", timeout=600)
        self.run(airflow, "pools", "set", "gpu", "1", "GPU training pods")
        self.start("airflow")
        from scripts.stack import wait_http

        wait_http(f"{self.mlflow_url}/health", 120, self.logs / "mlflow.log")
        self.wait_healthy(300)

    def down(self) -> None:
        self.stop("scheduler", "airflow")
        self.stop("mlflow")

    def kill(self, name: str) -> None:
        """SIGKILL a component; ``scheduler`` is standalone's own child until the soak has
        started one of its own."""
        if name == "scheduler" and self.pid("scheduler") is None:
            for child in _children(self.pid("airflow")):
                if child.cmdline()[-1:] == ["scheduler"]:  # python .../airflow scheduler
                    self._signal_tree(child.pid, signal.SIGKILL)
                    _wait_dead(child, 10)
                    return
            raise RuntimeError("no scheduler under airflow standalone")
        super().kill(name)

    def take_down(self, name: str) -> None:
        self.kill(name)

    def bring_back(self, name: str) -> None:
        self.start(name)

    def lake(self) -> Lake:
        from pipelines.core.storage import Lake

        return Lake(self.env["AIRFLOW_VAR_MLOPS_LAKE_URI"])


class StackServices(Stack):
    """`make stack-up`'s topology, its S3 server behind a gate: an S3 outage shuts the gate
    (moto keeps its objects in memory, stopping it would lose the lake)."""

    def __init__(self, config: StackConfig, gate: TcpGate) -> None:
        self.gate = gate
        super().__init__(config)

    def take_down(self, name: str) -> None:
        self.gate.shut() if name == "s3" else self.kill(name)

    def bring_back(self, name: str) -> None:
        self.gate.open() if name == "s3" else self.start(name)

    def lake(self) -> Lake:
        from pipelines.core.storage import Lake

        endpoint = f"http://127.0.0.1:{self.config.s3_port}"  # the soak's own view, no gate
        options = {"key": S3_KEY, "secret": S3_SECRET, "client_kwargs": {"endpoint_url": endpoint}}
        return Lake(f"s3://{LAKE_BUCKET}/lake", options)


def services(state: Path, models: Path, stack: bool) -> Standalone | StackServices:
    """The soak's services in ``state``, on free loopback ports, reading specs from ``models``."""
    common: dict[str, Any] = {
        "state": state,
        "airflow_port": free_port(),
        "mlflow_port": free_port(),
        "models_dir": str(models),
        "admin_password": "soak-admin",
        "extra_env": dict(FAST_RECOVERY),
    }
    saved = state / "ports.json"
    if saved.exists():  # a chunk resumes the same state on the same ports
        common.update(json.loads(saved.read_text()))
    state.mkdir(parents=True, exist_ok=True)
    ports = {k: common[k] for k in ("airflow_port", "mlflow_port")}
    if not stack:
        saved.write_text(json.dumps(ports))
        return Standalone(StackConfig(**common))
    s3_port = int(common.get("s3_port") or free_port())
    gate = TcpGate(s3_port)
    gate.open()
    saved.write_text(json.dumps({**ports, "s3_port": s3_port}))
    config = StackConfig(
        **common,
        s3_port=s3_port,
        s3_url=gate.url,
        db_prefix=f"mlops_soak_{os.getuid()}",
        redis="redis://127.0.0.1:6379/6",
    )
    return StackServices(config, gate)


def _children(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    with suppress(psutil.NoSuchProcess):
        return list(psutil.Process(pid).children())
    return []


def _wait_dead(proc: psutil.Process, timeout: float) -> None:
    """Until ``proc`` is gone or a zombie (standalone never reaps a child it lost)."""
    deadline = time.monotonic() + timeout
    with suppress(psutil.NoSuchProcess):
        while proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.1)
