"""Batch scoring vs raw ``Booster.predict`` on the same rows.

Trains the benchmark model of ``train_bench`` on small days (registered as champion in a
SQLite MLflow store), puts a rollout of a second version at 25% in the promotion history,
builds one features partition of ``--rows`` rows, then, each in a fresh process so peak RSS
is its own:

- ``step``: ``pipelines.serving.runs.scoring_run`` as the scoring task runs it: read the history,
  load both versions from the registry, read the partition, split rows by the salted hash,
  predict, write the predictions partition;
- ``raw``: read the same partition with pyarrow, give the categorical columns the model's
  levels, and call ``Booster.predict`` of the champion (loaded before the timer): the floor.

Times are taken inside the process around the work; library imports happen before the
timer on both sides. The step's time includes reading the history and loading both versions
from the registry; the raw side's does not include loading its booster.
Usage: ``python -m benchmarks.score_bench --rows 1000000 10000000``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import in_child, report
from benchmarks.train_bench import DAYS, FIRST, bench_spec, prepare

TRAIN_ROWS = 50_000
SCORED = FIRST + timedelta(days=DAYS + 2)


def setup(lake_root: str, rows: int, tracking: str) -> None:
    """A champion, a challenger at 25%, and one day of ``rows`` features to score."""
    from pipelines.core.registry import Registry
    from pipelines.core.storage import Lake
    from pipelines.features.build import build_features
    from pipelines.serving import history, state
    from pipelines.sources.ingest import ingest
    from pipelines.training.train import train
    from pipelines.validation.run import validate_day

    prepare(lake_root, TRAIN_ROWS, tracking)
    lake, small = Lake(lake_root), bench_spec(TRAIN_ROWS // DAYS)
    artifacts = str(Path(lake_root).parent / "artifacts")
    result = train(lake, small, FIRST + timedelta(days=DAYS), tracking, artifact_root=artifacts)
    registry = Registry(tracking)
    source = registry.client.get_model_version(small.name, result.version)
    second = registry.client.create_model_version(small.name, source.source, source.run_id)
    before = history.current_state(lake, registry, small.name, "bench", "UTC")
    at = datetime(2013, 1, 1, tzinfo=UTC)
    _, record = state.start(before, str(second.version), [25, 100], at, "bench", "bench")
    history.commit(lake, registry, before, record)
    big = bench_spec(rows)
    ingest(lake, big, SCORED)
    validate_day(lake, big, SCORED)
    build_features(lake, big, SCORED)


def run_step(lake_root: str, rows: int, tracking: str) -> dict[str, Any]:
    # Library imports are outside the timed work on both sides (the raw side imports these
    # while loading its booster before its timer).
    import lightgbm  # noqa: F401
    import mlflow.pyfunc
    import mlflow.store.model_registry.sqlalchemy_store
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

    from pipelines.core.calendar import day_end
    from pipelines.core.storage import Lake
    from pipelines.serving.runs import scoring_run

    spec = bench_spec(rows)
    started = time.perf_counter()
    result = scoring_run(Lake(lake_root), spec, SCORED, tracking, day_end(SCORED, "UTC"), "b")
    return {"work_s": time.perf_counter() - started, "rows": result.rows, **result.rows_by_version}


def run_raw(lake_root: str, rows: int, tracking: str) -> dict[str, Any]:
    import mlflow
    import pandas as pd
    import pyarrow.parquet as pq

    spec = bench_spec(rows)
    mlflow.set_tracking_uri(tracking)
    logged = mlflow.pyfunc.load_model(f"models:/{spec.name}/1").unwrap_python_model()
    booster, levels = logged.fitted.booster, logged.levels  # loaded before the timer
    path = f"{lake_root}/features/{spec.name}/date={SCORED.isoformat()}/part-0.parquet"
    started = time.perf_counter()
    frame = pq.read_table(path, columns=spec.feature_names).to_pandas()
    for column, values in levels.items():
        frame[column] = frame[column].astype("string").astype(pd.CategoricalDtype(values))
    predictions = booster.predict(frame, num_threads=2)
    return {"work_s": time.perf_counter() - started, "rows": len(predictions)}


def child(side: str, lake_root: str, rows: int, tracking: str) -> None:
    if side == "setup":
        setup(lake_root, rows, tracking)
        report({})
        return
    report((run_step if side == "step" else run_raw)(lake_root, rows, tracking))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--child", nargs=4, metavar=("SIDE", "LAKE", "ROWS", "TRACKING"))
    args = parser.parse_args()
    if args.child:
        side, lake_root, rows, tracking = args.child
        child(side, lake_root, int(rows), tracking)
        return 0
    lines = [
        "| rows | step (s) | raw predict (s) | throughput ratio | step rows/s | raw rows/s | "
        "step peak RSS (MB) | raw peak RSS (MB) | challenger rows |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            lake_root, tracking = str(Path(folder) / "lake"), f"sqlite:///{folder}/mlflow.db"
            # Setup in its own process too: Linux keeps a process's peak RSS across exec, so a
            # parent that generated the data would lend its peak to both measured children.
            _, raw, step = (
                in_child("benchmarks.score_bench", side, lake_root, str(rows), tracking)
                for side in ("setup", "raw", "step")
            )
        if not step["rows"] == raw["rows"] == rows:
            raise RuntimeError(f"the two sides scored different rows: {step} vs {raw}")
        lines.append(
            f"| {rows:,} | {step['work_s']:.2f} | {raw['work_s']:.2f} | "
            f"{raw['work_s'] / step['work_s']:.2f} | {rows / step['work_s']:,.0f} | "
            f"{rows / raw['work_s']:,.0f} | {step['peak_rss_mb']:.0f} | "
            f"{raw['peak_rss_mb']:.0f} | {step.get('2', 0):,} |"
        )
        sys.stdout.write(lines[-1] + "\n")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
