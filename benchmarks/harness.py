"""What the benchmarks share: each side runs in a fresh interpreter and reports its own peak
RSS, so one side's memory never counts against the other."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any


def in_child(module: str, *args: str, timeout: float | None = None) -> dict[str, Any]:
    """Run ``python -m module --child ARGS``; its last stdout line (JSON) plus ``wall_s``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", module, "--child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{module} {args[0]} failed:\n{done.stderr[-3000:]}")
    return {"wall_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def report(result: dict[str, Any]) -> None:
    """The child's answer: its facts and this process's peak RSS in MB."""
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps({**result, "peak_rss_mb": peak_mb}) + "\n")
