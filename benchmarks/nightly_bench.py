"""The nightly loop end to end: Airflow DAGs vs the raw floor, per step.

One night of ``--rows`` rows x 30 features (28 numeric, 2 categorical) for a synthetic
regression model whose training window is the previous day (also ``--rows`` labelled rows,
split 60/20/20 by time), so every step of the night handles ``--rows`` rows. Each side runs
in a fresh process so its peak RSS is its own:

- ``setup``: migrate a SQLite Airflow metadata DB; replay days 1 and 2 (ingest, validate,
  features), train version 1 on day 1's labels (champion), score day 2; keep the champion's
  model files and reference profile on disk for the floor.
- ``dags``: day 3 through Airflow with ``dag.test()``: the training DAG (ingest, validate
  with Great Expectations, features, train with MLflow tracking and registry), the scoring
  DAG and the monitoring DAG (drift check, Evidently report, retrain decision).
- ``floor``: the same night in one process with the ``pipelines`` functions below those
  layers and no Airflow, MLflow, Great Expectations or Evidently (checked at the end): the
  same ingest and features; validation as vectorised masks of the same contract; LightGBM fit,
  holdout gate against the champion and reference profile; ``Booster.predict`` and the same
  predictions partition; the same drift, prediction-drift and live-metric code.

Per step: wall time (the task instance's duration for the DAGs) and peak RSS (the process's
high-water mark, reset before each step through ``/proc/self/clear_refs``). The DAGs run
first, so the floor gets any warm page cache: the ratios are, if anything, pessimistic.
Usage: ``python -m benchmarks --rows 1000000 10000000``; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import in_child, peak_rss_mb, report, status_mb
from benchmarks.train_bench import spec_data
from pipelines.core.environment import QUIET_ENV

ROOT = Path(__file__).resolve().parents[1]
DAYS = [date(2013, 1, 1) + timedelta(days=i) for i in range(3)]  # two replayed, one measured
NIGHT = DAYS[-1]
LAYERS = ("airflow", "mlflow", "great_expectations", "evidently")
STEPS = {  # step -> the DAG tasks that do it
    "ingest": ["training.ingest"],
    "validate": ["training.validate"],
    "features": ["training.features"],
    "train": ["training.train"],
    "score": ["scoring.score"],
    "monitor": ["monitoring.check", "monitoring.report", "monitoring.request_retrain"],
}


def bench_spec(rows: int) -> Any:
    from pipelines.core.spec import parse_spec

    return parse_spec(
        spec_data(rows, 2), "benchmark spec"
    )  # the window is the previous (labelled) day


# ----------------------------------------------------------------------------- measuring
def reset_peak() -> float:
    """Start a new peak RSS window for this process (Linux >= 4.0); returns the RSS (MB) it
    starts from, after handing freed heap and Arrow pool memory back to the OS (a step run
    after others in one process would otherwise start from what they left allocated but
    unused)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")


def measured(steps: dict[str, dict[str, float]], name: str, work: Callable[[], Any]) -> Any:
    start_mb = reset_peak()
    started = time.perf_counter()
    result = work()
    steps[name] = {
        "s": time.perf_counter() - started,
        "peak_mb": peak_rss_mb(),
        "start_mb": start_mb,
    }
    return result


def environment(folder: Path) -> dict[str, str]:
    """What a deployment sets: Airflow home and Variables, the models folder, no telemetry."""
    return {
        "AIRFLOW_HOME": str(folder / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_VAR_MLOPS_LAKE_URI": str(folder / "lake"),
        "AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "AIRFLOW_VAR_MLOPS_MLFLOW_ARTIFACT_ROOT": str(folder / "artifacts"),
        "MLOPS_MODELS_DIR": str(folder / "models"),
        "MLOPS_EXECUTION": "local",
        **QUIET_ENV,
    }


# --------------------------------------------------------------------------------- setup
def setup(folder: Path, rows: int) -> dict[str, Any]:
    import mlflow
    import yaml

    from pipelines.core.calendar import day_end
    from pipelines.core.registry import Registry
    from pipelines.core.storage import Lake
    from pipelines.features.build import build_features
    from pipelines.monitoring.reference import load_reference
    from pipelines.serving.runs import scoring_run
    from pipelines.sources.ingest import ingest
    from pipelines.training.train import train
    from pipelines.validation.run import validate_day

    env = environment(folder)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, timeout=600)
    spec = bench_spec(rows)
    (folder / "models").mkdir()
    (folder / "models" / f"{spec.name}.yaml").write_text(yaml.safe_dump(spec_data(rows, 2)))
    lake, tracking = (
        Lake(env["AIRFLOW_VAR_MLOPS_LAKE_URI"]),
        env["AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI"],
    )
    for day in DAYS[:2]:
        ingest(lake, spec, day)
        validate_day(lake, spec, day)
        build_features(lake, spec, day)
    trained = train(
        lake, spec, DAYS[1], tracking, None, env["AIRFLOW_VAR_MLOPS_MLFLOW_ARTIFACT_ROOT"]
    )
    # Day 2's predictions, for the live metric once its labels arrive (v1 serves from day 3)
    moment = day_end(DAYS[1], "UTC")
    scoring_run(lake, spec, DAYS[1], tracking, moment, "bench", version=trained.version)
    champion = folder / "champion"
    mlflow.set_tracking_uri(tracking)
    mlflow.artifacts.download_artifacts(
        f"models:/{spec.name}/{trained.version}", dst_path=str(champion)
    )
    reference = load_reference(Registry(tracking), spec.name, trained.version)
    (champion / "reference.json").write_text(json.dumps(reference))
    return {"version": trained.version}


# ---------------------------------------------------------------------------- DAG side
def run_dags(folder: Path, rows: int) -> dict[str, Any]:
    """Day 3 through the training, scoring and monitoring DAGs (``dag.test``)."""
    sys.path.insert(0, str(ROOT / "dags"))
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    imported = time.perf_counter()
    bag = DagBag(dag_folder=str(ROOT / "dags" / "model_dags.py"))
    parsed = time.perf_counter()
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    model = bench_spec(rows).name
    peaks: dict[str, float] = {}
    executed: dict[str, float] = {}
    starts: dict[str, float] = {}

    def key(context: dict[str, Any]) -> str:
        ti = context["ti"]
        return f"{ti.dag_id.split('__')[1]}.{ti.task_id}"

    def start(context: dict[str, Any]) -> None:
        starts[key(context)] = reset_peak()
        executed[key(context)] = time.perf_counter()

    def stop(context: dict[str, Any], *_: Any) -> None:
        if key(context) not in peaks:  # post-execute, or the skipped callback when it raised
            peaks[key(context)] = peak_rss_mb()
            executed[key(context)] = time.perf_counter() - executed[key(context)]

    tasks: dict[str, dict[str, Any]] = {}
    for kind in ("training", "scoring", "monitoring"):
        dag = bag.dags[f"{model}__{kind}"]
        for task in dag.tasks:
            task.on_execute_callback = [*_callbacks(task.on_execute_callback), start]
            task.on_skipped_callback = [*_callbacks(task.on_skipped_callback), stop]
            # Post-execute runs before the end date is set: the code's time stays within
            # the task instance's duration (success callbacks run after it).
            if task._post_execute_hook is not None:
                raise RuntimeError(f"{task.task_id} has a post-execute hook of its own")
            task._post_execute_hook = stop
        run = dag.test(run_conf={"partition_date": NIGHT.isoformat()})
        for ti in run.get_task_instances():
            name = f"{kind}.{ti.task_id}"
            tasks[name] = {"state": str(ti.state), "s": ti.duration}
            tasks[name]["execute_s"] = executed.get(name, float("nan"))
            tasks[name]["peak_mb"] = peaks.get(name, float("nan"))
            tasks[name]["start_mb"] = starts.get(name, float("nan"))
        if str(run.state) != "success":
            raise RuntimeError(f"{dag.dag_id} ended {run.state}: {tasks}")
    return {
        "import_s": imported - started,
        "parse_s": parsed - imported,
        "dags_s": time.perf_counter() - parsed,
        "tasks": tasks,
    }


def _callbacks(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


# ------------------------------------------------------------------------------ floor
def run_floor(folder: Path, rows: int) -> dict[str, Any]:
    """Day 3 with pipelines functions only: no Airflow, MLflow, GX or Evidently."""
    from pipelines.core.storage import Lake
    from pipelines.features.build import build_features
    from pipelines.sources.ingest import ingest

    spec, lake = bench_spec(rows), Lake(str(folder / "lake"))
    champion = _load_champion(folder / "champion")
    steps: dict[str, dict[str, float]] = {}
    measured(steps, "ingest", lambda: ingest(lake, spec, NIGHT))
    measured(steps, "validate", lambda: _floor_validate(lake, spec, NIGHT))
    measured(steps, "features", lambda: build_features(lake, spec, NIGHT))
    measured(steps, "train", lambda: _floor_train(lake, spec, champion, folder / "floor"))
    raw_predict = measured(steps, "score", lambda: _floor_score(lake, spec, champion))
    measured(steps, "monitor", lambda: _floor_monitor(lake, spec, champion))
    loaded = [name for name in LAYERS if name in sys.modules]
    if loaded:
        raise RuntimeError(f"the floor imported {loaded}; it must run without them")
    return {"steps": steps, "raw_predict_s": raw_predict}


def _load_champion(folder: Path) -> dict[str, Any]:
    from pipelines.training.trainers import load

    meta = json.loads((folder / "artifacts" / "meta.json").read_text())
    files = {"model": str(folder / "artifacts" / "model.lgb.txt")}
    reference = json.loads((folder / "reference.json").read_text())
    return {"fitted": load(meta["algorithm"], files), "levels": meta["levels"], "ref": reference}


def _floor_validate(lake: Any, spec: Any, day: date) -> None:
    """The contract's checks as vectorised masks; clean deliveries move to raw/."""
    from datetime import UTC, datetime

    import numpy as np

    from pipelines.core.layout import LANDING, RAW
    from pipelines.validation.checks import batch_checks, failing_rows, label_checks, type_problems
    from pipelines.validation.evaluation import expected_schema, leakage_results
    from pipelines.validation.reading import read_batch
    from pipelines.validation.run import _batch_for_leakage, dataset_of

    now = datetime.now(UTC)
    for role, when in (("batch", day), ("labels", day - timedelta(days=1))):
        dataset = dataset_of(spec, role)
        landing = lake.partition_path(LANDING, dataset, when)
        lake.sha256(landing)  # the verdict records the delivery's hash, as the gate does
        table = read_batch(lake, landing)
        expected = expected_schema(spec, role)
        wrong = type_problems(expected, table.schema)
        usable = {c for c in expected if c in table.schema.names and c not in wrong}
        frame = table.to_pandas(self_destruct=True, split_blocks=True)
        del table
        checks = (
            batch_checks(spec, expected, usable, when, now)
            if role == "batch"
            else label_checks(spec, expected, usable)
        )
        bad = np.zeros(len(frame), dtype=bool)
        for check in checks:
            if check.row_level:
                bad |= failing_rows(check, frame)
        frame.isna().sum()  # null shares
        if role == "labels":
            leakage_results(spec, frame, _batch_for_leakage(lake, spec, when))
        if bad.any():
            raise RuntimeError(f"{int(bad.sum())} rows fail the contract; the floor expects none")
        lake.move(landing, lake.partition_path(RAW, dataset, when))


def _floor_train(lake: Any, spec: Any, champion: dict[str, Any], out: Path) -> None:
    """Window, split, fit, holdout gate against the champion, reference profile, save."""
    from pipelines.monitoring.reference import build_reference
    from pipelines.training.dataset import (
        category_levels,
        check_trainable,
        labelled_window,
        model_matrix,
        time_split,
    )
    from pipelines.training.gate import evaluate_gate
    from pipelines.training.trainers import fit
    from pipelines.validation.learned import learned_suite

    split = time_split(labelled_window(lake, spec, NIGHT), spec)
    check_trainable(split, spec)
    levels = category_levels(split.train, spec)
    label = spec.label.name
    fitted = fit(
        spec,
        model_matrix(split.train, spec, levels),
        split.train[label].to_numpy(),
        model_matrix(split.valid, spec, levels),
        split.valid[label].to_numpy(),
    )
    predicted = fitted.predict(model_matrix(split.holdout, spec, levels))
    incumbent = champion["fitted"].predict(model_matrix(split.holdout, spec, champion["levels"]))
    y = split.holdout[label].to_numpy()
    decision = evaluate_gate(spec.gates, y, predicted, incumbent, None, seed=spec.training.seed)
    learned_suite(split.train, spec)
    build_reference(spec, split.train, split.holdout, predicted, decision.challenger)
    out.mkdir(exist_ok=True)
    fitted.save(out)


def _floor_score(lake: Any, spec: Any, champion: dict[str, Any]) -> float:
    """Read, predict with the champion's booster, write the same predictions partition;
    returns the raw part's seconds (read, matrix, ``Booster.predict``)."""
    import numpy as np

    from pipelines.core.layout import FEATURES, PREDICTIONS
    from pipelines.serving.split import predictions_frame
    from pipelines.training.dataset import model_matrix

    started = time.perf_counter()
    frame = lake.read_partition(FEATURES, spec.name, NIGHT)
    predictions = champion["fitted"].predict(model_matrix(frame, spec, champion["levels"]))
    raw_s = time.perf_counter() - started
    nobody = np.zeros(len(frame), dtype=bool)
    out = predictions_frame(frame, spec, predictions, nobody, ("1", "champion"), None, "")
    lake.write_partition(out, PREDICTIONS, spec.name, NIGHT)
    return raw_s


class _Profiles:
    """The champion's reference profile where monitoring asks the registry for one."""

    def __init__(self, reference: dict[str, Any]) -> None:
        self.reference = reference

    def get(self, version: str) -> dict[str, Any]:
        return self.reference


def _floor_monitor(lake: Any, spec: Any, champion: dict[str, Any]) -> None:
    """The same drift, prediction-drift and live-metric code, fed from files."""
    from pipelines.monitoring.check import feature_paths, judge_day
    from pipelines.monitoring.live import read_predictions

    paths = feature_paths(lake, spec, NIGHT)
    predictions = read_predictions(lake, spec, NIGHT)
    judge_day(lake, spec, NIGHT, paths, predictions, "1", _Profiles(champion["ref"]))


# ------------------------------------------------------------------------------ table
def child(side: str, folder: str, rows: int) -> None:
    place = Path(folder)
    if side == "setup":
        report(setup(place, rows))
    elif side == "dags":
        report(run_dags(place, rows))
    else:
        report(run_floor(place, rows))


def night(rows: int) -> dict[str, Any]:
    """Setup, DAGs and floor for one size, each in its own process."""
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as name:
        folder = Path(name)
        os.environ.update(environment(folder))
        setup_run = in_child("benchmarks.nightly_bench", "setup", name, str(rows))
        dags = in_child("benchmarks.nightly_bench", "dags", name, str(rows))
        floor = in_child("benchmarks.nightly_bench", "floor", name, str(rows))
        parse = parse_times()
    return {"rows": rows, "setup": setup_run, "dags": dags, "floor": floor, "parse_s": parse}


def table(result: dict[str, Any]) -> list[str]:
    rows, dags, floor = result["rows"], result["dags"], result["floor"]
    lines = [
        f"**{rows:,} rows** (setup {result['setup']['wall_s']:.0f} s, not counted)",
        "",
        "| step | DAG task(s) | DAG (s) | of which the task's code (s) | floor (s) | ratio | "
        "DAG peak RSS (at start) (MB) | floor peak RSS (at start) (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    total_dag = total_code = total_floor = 0.0
    for step, tasks in STEPS.items():
        dag_s = sum(dags["tasks"][t]["s"] for t in tasks)
        code_s = sum(dags["tasks"][t]["execute_s"] for t in tasks)
        dag_mb = max((dags["tasks"][t]["peak_mb"], dags["tasks"][t]["start_mb"]) for t in tasks)
        mine = floor["steps"][step]
        total_dag, total_floor = total_dag + dag_s, total_floor + mine["s"]
        total_code += code_s
        lines.append(
            f"| {step} | {', '.join(tasks)} | {dag_s:.1f} | {code_s:.1f} | {mine['s']:.1f} | "
            f"{dag_s / mine['s']:.2f} | {dag_mb[0]:.0f} ({dag_mb[1]:.0f}) | "
            f"{mine['peak_mb']:.0f} ({mine['start_mb']:.0f}) |"
        )
    lines.append(
        f"| **tasks, summed** | | {total_dag:.1f} | {total_code:.1f} | {total_floor:.1f} | "
        f"{total_dag / total_floor:.2f} | | |"
    )
    lines.append(
        f"| **end to end (process wall)** | 3 x `dag.test()` | {dags['wall_s']:.1f} | | "
        f"{floor['wall_s']:.1f} | {dags['wall_s'] / floor['wall_s']:.2f} | "
        f"{max(t['peak_mb'] for t in dags['tasks'].values()):.0f} | "
        f"{max(s['peak_mb'] for s in floor['steps'].values()):.0f} |"
    )
    score_s = dags["tasks"]["scoring.score"]["s"]
    lines += [
        "",
        f"Scoring throughput vs raw `Booster.predict` (read + matrix + predict, "
        f"{floor['raw_predict_s']:.1f} s): **{floor['raw_predict_s'] / score_s:.2f}x** "
        f"({rows / score_s:,.0f} vs {rows / floor['raw_predict_s']:,.0f} rows/s). "
        f"DAG side: importing Airflow {dags['import_s']:.1f} s, parsing "
        f"`dags/model_dags.py` {dags['parse_s']:.2f} s, the three `dag.test()` "
        f"{dags['dags_s']:.1f} s.",
    ]
    return lines


PARSE = """
import sys, time
sys.path.insert(0, sys.argv[2])  # the DAGs folder, as Airflow puts it on sys.path
import airflow.sdk  # what a DAG processor has loaded before it parses a file
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
print(time.perf_counter() - started, len(bag.dags), len(bag.import_errors))
"""


def parse_times() -> dict[str, float]:
    """Parse time of each file of ``dags/``, each in a fresh process after importing Airflow
    (as Airflow's DAG processor parses a file), with the repository's model specs."""
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_MODELS_DIR"}
    times = {}
    for path in sorted((ROOT / "dags").glob("*.py")):
        command = [sys.executable, "-c", PARSE, str(path), str(path.parent)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        seconds, _, errors = done.stdout.split()[-3:] if done.returncode == 0 else "???"
        if done.returncode or errors != "0":
            raise RuntimeError(f"{path.name} did not parse:\n{done.stdout}{done.stderr[-3000:]}")
        times[path.name] = float(seconds)
    return times


def parse_table(times: dict[str, float]) -> list[str]:
    lines = ["| DAG file | parse (s) |", "|---|---:|"]
    return lines + [f"| dags/{name} | {seconds:.3f} |" for name, seconds in sorted(times.items())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "FOLDER", "ROWS"))
    args = parser.parse_args()
    if args.child:
        side, folder, rows = args.child
        child(side, folder, int(rows))
        return 0
    results: list[dict[str, Any]] = []
    for rows in args.rows:
        results.append(night(rows))
        sys.stdout.write("\n".join(table(results[-1])) + "\n\n")
        sys.stdout.flush()
    sys.stdout.write("\n".join(parse_table(results[-1]["parse_s"])) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
