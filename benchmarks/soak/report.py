"""The soak's report: the facts of the run, each fault with its outcome, each invariant with
what it checked, as JSON (``report.json`` in the state folder) and as text."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def facts() -> dict[str, Any]:
    """Date, commit, machine and command of this run."""
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "commit": _commit(),
        "machine": f"{platform.node()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}",
        "command": "python -m benchmarks.soak " + " ".join(sys.argv[1:]),
    }


def print_report(report: dict[str, Any]) -> None:
    say("")
    say(
        f"{report['nights']} of {report['of']} nights in {report['wall_s']:.0f} s; "
        f"{report['runs']} runs, {report['task_instances']} task instances"
    )
    say(f"faults: {len(report['faults'])}")
    for fault in report["faults"]:
        say(f"  {fault['night']} {fault['kind']:22} {fault['model']:17} {fault['outcome']}")
    say("invariants:")
    for check in report["invariants"]:
        verdict = "ok" if check["violations"] == 0 else f"{check['violations']} VIOLATIONS"
        say(f"  {check['name']:60} checked {check['checked']:6}  {verdict}")
        for example in check["examples"]:
            say(f"      {example}")


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, as a person runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "unknown"
