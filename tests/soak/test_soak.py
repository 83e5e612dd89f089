"""The soak in the test suite: 14 nights of synthetic_demand, delivered by the soak itself,
through `airflow standalone` and an MLflow server on loopback, with two faults (the scheduler
SIGKILLed mid-night and restarted, a corrupt delivery). Every invariant holds; the first fault
is recovered from, the second fails closed with its reason. Run it alone with ``-m soak``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.soak,
    pytest.mark.timeout(1800),
]
FAULTS = "scheduler_kill@2013-01-07,corrupt_delivery@2013-01-10"


def test_fourteen_nights_with_two_faults_keep_every_invariant(tmp_path):
    report = tmp_path / "report.json"
    command = [
        sys.executable, "-m", "benchmarks.soak", "--nights", "14", "--models", "synthetic_demand",
        "--faults", FAULTS, "--state", str(tmp_path / "state"), "--report", str(report),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(report.read_text())
    broken = {i["name"]: i["examples"] for i in result["invariants"] if i["violations"]}
    assert not broken, done.stdout[-4000:]
    assert done.returncode == 0, done.stderr[-3000:]
    assert result["nights"] == 14
    checked = {i["name"]: i["checked"] for i in result["invariants"]}
    assert checked["rows accounted (synthetic_demand)"] == 14 + 14  # batches, labels of D - 1
    assert checked["scored exactly once, by the version serving (synthetic_demand)"] == 13
    outcomes = {f["kind"]: f["outcome"] for f in result["faults"]}
    assert outcomes["scheduler_kill"].startswith("recovered"), outcomes
    assert outcomes["corrupt_delivery"].startswith("failed closed: quarantined"), outcomes
    # the scheduler's executor imported the pipelines' libraries before it forked (twice:
    # standalone's scheduler, then the one started after the kill)
    airflow_log = (tmp_path / "state" / "logs" / "airflow.log").read_text()
    scheduler_log = (tmp_path / "state" / "logs" / "scheduler.log").read_text()
    assert "Preloaded the pipelines' libraries" in airflow_log
    assert "Preloaded the pipelines' libraries" in scheduler_log
