"""The benchmark entry points still run (tiny sizes; the numbers are not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_training_benchmark_prints_its_table():
    out = run("benchmarks.train_bench", "--rows", "20000")
    assert "| 20,000 |" in out and "| wall ratio |" in out and "| MLflow floor (s) |" in out


def test_torch_benchmark_prints_its_result():
    result = json.loads(run("benchmarks.torch_bench", "--rows", "5000", "--epochs", "1"))
    assert result["rows_train"] == 4000 and result["valid_rmse"] > 0


def test_validation_benchmark_prints_its_table():
    out = run("benchmarks.validate_bench", "--rows", "20000")
    assert "| 20,000 |" in out and "rows dropped (out_of_range, unseen_category)" in out


def test_scoring_benchmark_prints_its_table():
    out = run("benchmarks.score_bench", "--rows", "20000")
    assert "| 20,000 |" in out and "| throughput ratio |" in out


def test_drift_benchmark_prints_its_table():
    out = run(
        "benchmarks.drift_bench",
        "--rows",
        "20000",
        "--reference",
        "20000",
        "--evidently-timeout",
        "300",
    )
    assert "| 20,000 | ours (psi/jensenshannon) |" in out
    assert "exact full-data tests" in out and "Evidently DataDriftPreset" in out


def test_nightly_benchmark_runs_the_dags_and_the_floor(tmp_path):
    """``python -m benchmarks``: setup, three dag.test() runs, the floor and the parse times."""
    measurements = tmp_path / "nightly.json"
    out = run("benchmarks", "--rows", "20000", "--json", str(measurements))
    assert "**20,000 rows**" in out and "| **end to end (process wall)** |" in out
    assert "| dags/model_dags.py |" in out
    (night,) = json.loads(measurements.read_text())
    tasks = night["dags"]["tasks"]
    assert {tasks[t]["state"] for t in ("training.train", "scoring.score", "monitoring.check")} == {
        "success"
    }
    assert set(night["floor"]["steps"]) == {
        "ingest",
        "validate",
        "features",
        "train",
        "score",
        "monitor",
    }
    for task in tasks.values():  # measured by the callbacks the benchmark adds to every task
        assert task["peak_mb"] >= task["start_mb"] > 0 and 0 < task["execute_s"] <= task["s"]
    assert set(night["parse_s"]) >= {"model_dags.py", "model_rollback.py"}
