"""DAG integrity: the real DagBag loads every file; DAG files stay light; layers stay apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import DAGS, MODELS, ROOT, imported_modules

pytestmark = pytest.mark.integration
HEAVY = ["great_expectations", "evidently", "mlflow", "lightgbm", "sklearn", "torch", "pandas"]


def dagbag(models_dir: Path | None = None):
    """A fresh DagBag over dags/ (optionally with another models folder)."""
    from airflow.dag_processing.dagbag import DagBag

    if models_dir is not None:
        os.environ["MLOPS_MODELS_DIR"] = str(models_dir)
    try:
        return DagBag(dag_folder=str(DAGS))
    finally:
        os.environ.pop("MLOPS_MODELS_DIR", None)


def test_every_dag_file_imports_and_every_model_has_a_training_dag(airflow_db):
    bag = dagbag()
    assert bag.import_errors == {}
    assert {"flight_delay__training", "synthetic_demand__training"} <= set(bag.dag_ids)
    assert "example_handwritten__flight_delay_on_demand" in bag.dag_ids


def test_every_dag_has_owner_tags_retries_and_a_doc(airflow_db):
    for dag_id, dag in dagbag().dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}"
            assert task.retries >= 1, f"{dag_id}.{task.task_id}"


def test_retry_policy_comes_from_the_spec(airflow_db, tmp_path):
    data = yaml.safe_load((MODELS / "flight_delay.yaml").read_text())
    data["retries"] = {"count": 4, "delay_seconds": 5, "max_delay_minutes": 2}
    models = tmp_path / "models"
    models.mkdir()
    (models / "flight_delay.yaml").write_text(yaml.safe_dump(data))
    dags = dagbag(models).dags
    for dag_id in ("flight_delay__training", "flight_delay__scoring", "flight_delay__promotion"):
        for task in dags[dag_id].tasks:
            assert task.retries == 4, f"{dag_id}.{task.task_id}"
            assert task.retry_delay.total_seconds() == 5
            assert task.max_retry_delay.total_seconds() == 120
    shipped = dagbag().dags["flight_delay__training"].get_task("train")
    assert (shipped.retries, shipped.retry_delay.total_seconds()) == (2, 30)


def test_training_dag_shape_and_schedule(airflow_db):
    dag = dagbag().dags["flight_delay__training"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "ingest",
        "validate",
        "features",
        "train",
    ]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    nightly = dag.timetable
    assert (nightly.expression, str(nightly.timezone)) == ("0 2 * * *", "America/New_York")
    assert str(dag.start_date.date()) == "2013-01-01"
    assert {a.name for a in dag.get_task("train").outlets} == {"model.flight_delay"}
    assert "partition_date" in dag.params


def test_the_nightly_schedule_ends_with_the_night_of_the_end_date(airflow_db, monkeypatch):
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import DagRunInfo, TimeRestriction

    monkeypatch.setenv("MLOPS_SCHEDULE_END", "2013-01-14")
    dag = DagSerialization.from_dict(
        DagSerialization.to_dict(dagbag().dags["flight_delay__training"])
    )
    limits = TimeRestriction(dag.start_date, dag.end_date, catchup=True)

    def night_after(day: int):
        start = datetime(2013, 1, day, 7, tzinfo=UTC)  # 02:00 in New York
        done = DagRunInfo.interval(start, start + timedelta(days=1))
        found = dag.timetable.next_dagrun_info_v2(last_dagrun_info=done, restriction=limits)
        return found and found.data_interval.start.astimezone(UTC)

    assert night_after(13) == datetime(2013, 1, 14, 7, tzinfo=UTC)  # the 14th runs
    assert night_after(14) is None  # and is the last


def test_retraining_runs_once_per_requested_day(airflow_db):
    from airflow.sdk.definitions.timetables.assets import PartitionedAssetTimetable

    dag = dagbag().dags["flight_delay__retraining"]
    assert [t.task_id for t in dag.topological_sort()] == ["request", "train"]
    assert isinstance(dag.timetable, PartitionedAssetTimetable)  # a run per requested day
    assert "retrain.flight_delay" in str(dag.timetable.asset_condition)
    assert {a.name for a in dag.get_task("train").outlets} == {"model.flight_delay"}
    assert dag.max_active_runs == 1


def test_scoring_and_promotion_follow_the_data_through_assets(airflow_db):
    dags = dagbag().dags
    scoring, promotion = dags["flight_delay__scoring"], dags["flight_delay__promotion"]
    assert [t.task_id for t in scoring.topological_sort()] == ["score"]
    assert {a.name for a in scoring.get_task("score").outlets} == {"predictions.flight_delay"}
    assert [t.task_id for t in promotion.topological_sort()] == [
        "decide",
        "needs_approval",
        "approve",
        "apply_approved",
    ]
    assert promotion.max_active_runs == 1  # with the history's compare-and-set
    assert "features.flight_delay" in str(scoring.timetable.asset_condition)
    assert "predictions.flight_delay" in str(promotion.timetable.asset_condition)
    assert {"model", "version", "reason"} <= set(dags["mlops__rollback"].params)


def test_monitoring_follows_scoring_and_requests_retrains_through_an_asset(airflow_db):
    dags = dagbag().dags
    monitoring = dags["flight_delay__monitoring"]
    assert [t.task_id for t in monitoring.topological_sort()] == [
        "check",
        "report",
        "request_retrain",
    ]
    assert "predictions.flight_delay" in str(monitoring.timetable.asset_condition)
    outlets = monitoring.get_task("request_retrain").outlets
    assert {a.name for a in outlets} == {"retrain.flight_delay"}
    assert "partition_date" in monitoring.params


def test_bad_spec_is_an_import_error_and_other_dags_still_load(airflow_db, tmp_path):
    for name in ("flight_delay", "synthetic_demand"):
        (tmp_path / f"{name}.yaml").write_text((MODELS / f"{name}.yaml").read_text())
    bad = yaml.safe_load((MODELS / "synthetic_demand.yaml").read_text())
    bad["name"] = "broken_model"
    bad["features"][1]["type"] = "text"
    (tmp_path / "broken_model.yaml").write_text(yaml.safe_dump(bad))

    bag = dagbag(tmp_path)
    assert {"flight_delay__training", "synthetic_demand__training"} <= set(bag.dag_ids)
    assert not any(d.startswith("broken_model") for d in bag.dag_ids)
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert list(errors) == ["check_model_specs.py"]
    assert f"{tmp_path / 'broken_model.yaml'}: features[1].type" in errors["check_model_specs.py"]


def test_importing_dag_files_loads_no_heavy_library():
    """Each task re-parses its DAG file: parsing must not pay for pandas, MLflow, ML libs."""
    files = sorted(p.name for p in DAGS.glob("*.py"))
    script = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(DAGS)!r})\n"
        f"for name in {[f[:-3] for f in files]!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_pipelines_never_imports_airflow_dags_or_plugins():
    assert imported_modules(ROOT / "pipelines").isdisjoint({"airflow", "mlops", "plugins", "dags"})
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_import_check_can_fail(tmp_path):
    (tmp_path / "leaky.py").write_text("from airflow.sdk import task\n")
    assert "airflow" in imported_modules(tmp_path)


def test_asset_uris_skip_airflows_provider_uri_handlers(flight_spec):
    """An ``x-`` scheme is not normalised: creating the DAGs' Assets loads no provider's URI
    handlers (about 0.24 s of every DAG file parse otherwise)."""
    from airflow.sdk.definitions.asset import _sanitize_uri

    from mlops import assets

    builders = [getattr(assets, name) for name in dir(assets) if name.endswith("_asset")]
    assert len(builders) == 5
    for build in builders:
        uri = build(flight_spec).uri
        assert uri.startswith("x-mlops://") and _sanitize_uri(uri) == uri
