"""What the benchmarks share: each side runs in a fresh interpreter and reports its own peak
RSS, so one side's memory never counts against the other."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines.core.environment import QUIET_ENV  # as deployed: MLflow's telemetry off in children


def in_child(module: str, *args: str, timeout: float | None = None) -> dict[str, Any]:
    """Run ``python -m module --child ARGS``; its last stdout line (JSON) plus ``wall_s``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", module, "--child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **QUIET_ENV},
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{module} {args[0]} failed:\n{done.stderr[-3000:]}")
    return {"wall_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def report(result: dict[str, Any]) -> None:
    """The child's answer: its facts, this process's peak RSS in MB and its CPU seconds (user
    and system, all threads: on a machine with few cores this bounds the wall time)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    measured = {"peak_rss_mb": peak_rss_mb(), "cpu_s": usage.ru_utime + usage.ru_stime}
    sys.stdout.write(json.dumps({**result, **measured}) + "\n")


def peak_rss_mb() -> float:
    """This process's own peak RSS (MB): VmHWM, the high-water mark of the memory its program
    mapped since ``exec`` (or since a reset through ``/proc/self/clear_refs``).

    Not ``ru_maxrss``: Linux carries it over ``exec``, so a child spawned by a parent that
    holds 1.2 GB (having generated the data) reports at least 1.2 GB whatever it used.
    """
    return status_mb("VmHWM")


def status_mb(field: str) -> float:
    """A memory field of ``/proc/self/status`` (Linux) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


# MLflow's job runner (GenAI evaluation jobs, trace roll-ups: unused here) starts five
# worker processes that kept both cores busy for ~20 s after the server answered.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


@contextmanager
def tracking_server(folder: Path) -> Iterator[str]:
    """An MLflow server on loopback, as deployed (SQLite store, proxied artifacts); yields its
    URI. The step then pays HTTP calls, as in production, not a store's start-up per run."""
    from scripts.stack import wait_http

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = folder / "mlflow-server.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **QUIET_ENV, **MLFLOW_SERVER_ENV},
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 120, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn worker
        server.wait(timeout=30)
