"""Training step vs raw ``lightgbm.train`` on the same rows.

Generates seeded synthetic data (``--rows`` rows x 30 features: 28 numeric, 2 categorical)
as daily features and labels partitions in a temporary lake, then, each in a fresh process so
peak RSS is its own:

- ``step``: ``pipelines.training.train.train`` as a task runs it: read the labelled window from the
  lake, split by time, fit, evaluate the gate, log and register in MLflow (a tracking
  server on loopback with a SQLite store, as deployed);
- ``raw``: read the same partitions into one matrix with pyarrow and call ``lightgbm.train``
  with the same parameters, rounds and validation rows: the floor;
- ``mlflow``: MLflow's own fixed cost of what the step must do with no data (import, one
  run, a trivial pyfunc logged with signature and input example, a registered version and an
  alias). It does not grow with rows; "ratio less floor" is the step's wall time without it
  over raw's, the part of the overhead that this project's code decides.

Both train a fixed number of rounds (early stopping disabled) so the work is identical.
Usage: ``python -m benchmarks.train_bench --rows 1000000 10000000``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import in_child, report, tracking_server

DAYS = 5  # labelled days in the window: 3 train, 1 validation, 1 holdout
ROUNDS = 50
FIRST = date(2013, 1, 1)


def bench_spec(rows_per_day: int, window_days: int = DAYS + 1) -> Any:
    from pipelines.core.spec import parse_spec

    return parse_spec(spec_data(rows_per_day, window_days), "benchmark spec")


def spec_data(
    rows_per_day: int, window_days: int = DAYS + 1, numeric: int = 28, categorical: int = 2
) -> dict[str, Any]:
    """The benchmark model: 30 features (28 numeric, 2 categorical) unless told, regression."""
    features = [{"name": f"num_{i}", "type": "numeric"} for i in range(numeric)]
    features += [{"name": f"cat_{i}", "type": "categorical"} for i in range(categorical)]
    return {
        "name": "bench_model",
        "owner": "bench",
        "source": {
            "kind": "synthetic",
            "dataset": "bench_events",
            "options": {
                "rows_per_day": rows_per_day,
                "numeric_features": numeric,
                "categorical_features": categorical,
            },
        },
        "entity_key": "entity_id",
        "timestamp": "event_time",
        "label": {"name": "target", "task": "regression"},
        "features": features,
        "training": {
            "params": {"num_threads": 2},
            "window_days": window_days,
            "num_boost_round": ROUNDS,
            "early_stopping_rounds": ROUNDS,
            "min_rows": 1,
        },
        "gates": {"metric": "rmse", "bootstrap_samples": 100},
        "schedules": {"start_date": FIRST.isoformat()},
    }


def prepare(lake_root: str, rows: int, tracking: str) -> None:
    from mlflow import MlflowClient

    from pipelines.core.storage import Lake
    from pipelines.features.build import build_features
    from pipelines.sources.ingest import ingest
    from pipelines.validation.run import validate_day

    MlflowClient(tracking).search_experiments()  # the server is up, as in a deployment
    spec, lake = bench_spec(rows // DAYS), Lake(lake_root)
    for i in range(DAYS + 1):
        day = FIRST + timedelta(days=i)
        ingest(lake, spec, day)
        validate_day(lake, spec, day)
        if i < DAYS:
            build_features(lake, spec, day)


def run_step(lake_root: str, rows: int, tracking: str) -> dict[str, Any]:
    from pipelines.core.storage import Lake
    from pipelines.training.train import train

    spec = bench_spec(rows // DAYS)
    result = train(Lake(lake_root), spec, FIRST + timedelta(days=DAYS), tracking)
    return {"rows_train": result.rows_train, "rmse": result.value}


def run_raw(lake_root: str, rows: int) -> dict[str, Any]:
    """The floor: one pyarrow read per partition, one matrix, lightgbm.train."""
    import lightgbm as lgb
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.training.trainers import lightgbm_params

    spec = bench_spec(rows // DAYS)
    tables = []
    for i in range(DAYS):
        day = (FIRST + timedelta(days=i)).isoformat()
        features = pq.read_table(f"{lake_root}/features/bench_model/date={day}/part-0.parquet")
        labels = pq.read_table(f"{lake_root}/raw/bench_events_labels/date={day}/part-0.parquet")
        tables.append(features.join(labels, "entity_id"))
    frame = pa.concat_tables(tables).to_pandas()
    names = spec.feature_names
    train_rows = slice(0, rows * 3 // 5)
    valid_rows = slice(rows * 3 // 5, rows * 4 // 5)
    x, y = frame[names], frame["target"].to_numpy(np.float64)
    train_set = lgb.Dataset(x.iloc[train_rows], label=y[train_rows])
    valid_set = lgb.Dataset(x.iloc[valid_rows], label=y[valid_rows], reference=train_set)
    booster = lgb.train(
        lightgbm_params(spec), train_set, num_boost_round=ROUNDS, valid_sets=[valid_set]
    )
    return {"rows_train": rows * 3 // 5, "trees": booster.current_iteration()}


FLOOR_MODEL = """import mlflow


class Identity(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input.iloc[:, 0]


mlflow.models.set_model(Identity())
"""


def run_mlflow_floor(tracking: str) -> dict[str, Any]:
    """MLflow's own share of any training step (log, register, alias), with no data and a trivial
    model: import MLflow, one run with a param and a metric, a pyfunc logged with signature,
    input example and the step's pip requirements, a registered version and an alias.

    Timed from before ``import mlflow`` (interpreter start and pandas are raw's costs too).
    """
    import time

    import pandas as pd

    started = time.perf_counter()
    import mlflow

    from pipelines.training.pyfunc import model_requirements

    mlflow.set_tracking_uri(tracking)
    mlflow.set_experiment("bench_floor")
    example = pd.DataFrame({"x": [1.0, 2.0]})
    with tempfile.TemporaryDirectory() as folder, mlflow.start_run():
        code = Path(folder) / "identity_model.py"
        code.write_text(FLOOR_MODEL)
        mlflow.log_params({"rounds": ROUNDS})
        mlflow.log_metrics({"rmse": 1.0})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            signature=mlflow.models.infer_signature(example, example["x"]),
            input_example=example,
            pip_requirements=model_requirements("lightgbm"),
        )
        version = mlflow.register_model(info.model_uri, "bench_floor")
    mlflow.MlflowClient(tracking).set_registered_model_alias(
        "bench_floor", "champion", version.version
    )
    return {"mlflow_s": time.perf_counter() - started}


def measure(mode: str, lake_root: str, rows: int, tracking: str) -> dict[str, Any]:
    """Run one mode in a fresh interpreter; wall time and that process's peak RSS."""
    return in_child("benchmarks.train_bench", mode, lake_root, str(rows), tracking)


def child(mode: str, lake_root: str, rows: int, tracking: str) -> None:
    runs = {
        "step": lambda: run_step(lake_root, rows, tracking),
        "raw": lambda: run_raw(lake_root, rows),
        "mlflow": lambda: run_mlflow_floor(tracking),
    }
    report(runs[mode]())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--child", nargs=4, metavar=("MODE", "LAKE", "ROWS", "TRACKING"))
    args = parser.parse_args()
    if args.child:
        mode, lake_root, rows, tracking = args.child
        child(mode, lake_root, int(rows), tracking)
        return 0
    lines = [
        "| rows | step wall (s) | raw wall (s) | wall ratio | MLflow floor (s) | "
        "ratio less floor | step CPU (s) | raw CPU (s) | step peak RSS (MB) | "
        "raw peak RSS (MB) | RSS ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder, tracking_server(Path(folder)) as tracking:
            lake_root = str(Path(folder) / "lake")
            prepare(lake_root, rows, tracking)
            raw = measure("raw", lake_root, rows, tracking)
            step = measure("step", lake_root, rows, tracking)
            floor = measure("mlflow", lake_root, rows, tracking)["mlflow_s"]
        lines.append(
            f"| {rows:,} | {step['wall_s']:.1f} | {raw['wall_s']:.1f} | "
            f"{step['wall_s'] / raw['wall_s']:.2f} | {floor:.1f} | "
            f"{(step['wall_s'] - floor) / raw['wall_s']:.2f} | "
            f"{step['cpu_s']:.1f} | {raw['cpu_s']:.1f} | "
            f"{step['peak_rss_mb']:.0f} | "
            f"{raw['peak_rss_mb']:.0f} | {step['peak_rss_mb'] / raw['peak_rss_mb']:.2f} |"
        )
        sys.stdout.write(lines[-1] + "\n")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
