"""Validation of one delivered partition vs Great Expectations run the naive way.

Generates one seeded synthetic day (``--rows`` rows: key, timestamp, 20 numeric, 3 categorical
columns) with 1% of rows out of range and 0.5% with an unseen category, lands it in a
temporary lake, then, each in a fresh process so peak RSS is its own:

- ``gate``: ``pipelines.validation.run.validate_partition`` as the DAG task runs it: read the file
  once, run the 40-expectation contract through GX (SUMMARY results), find the failing rows,
  publish the clean rows to ``raw/`` and the dropped ones to ``quarantine/``, write reports;
- ``naive``: ``pandas.read_parquet`` and the same expectations through GX with the COMPLETE
  result format (every failing value and index listed), the way GX examples run a checkpoint.

Both import GX inside the timed section (the task does too). Usage:
``python -m benchmarks.validate_bench --rows 1000000 10000000``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import peak_rss_mb

DAY = date(2013, 1, 2)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NUMERIC, CATEGORICAL = 20, 3


def bench_spec(rows: int) -> Any:
    from benchmarks.train_bench import spec_data
    from pipelines.core.spec import parse_spec

    columns: dict[str, Any] = {f"num_{i}": {"min": -8, "max": 8} for i in range(10)}
    columns |= {f"cat_{i}": {"domain": [f"c{k}" for k in range(6)]} for i in range(CATEGORICAL)}
    data = spec_data(rows, numeric=NUMERIC, categorical=CATEGORICAL)
    data["validation"] = {"max_rows": 100_000_000, "columns": columns}
    return parse_spec(data, "benchmark spec")


def prepare(lake_root: str, rows: int) -> None:
    import numpy as np

    from pipelines.core.storage import Lake
    from pipelines.sources.synthetic import generate_day

    spec = bench_spec(rows)
    frame = generate_day(spec.source.options, "regression", DAY).drop(columns="target")
    rng = np.random.default_rng(0)
    frame.loc[rng.random(rows) < 0.01, "num_0"] = 50.0
    cat = frame["cat_0"].cat.add_categories(["zz"])
    frame["cat_0"] = cat.where(rng.random(rows) >= 0.005, "zz")
    Lake(lake_root).write_partition(frame, "landing", "bench_events", DAY)


def run_gate(lake_root: str, rows: int) -> dict[str, Any]:
    from pipelines.core.storage import Lake
    from pipelines.validation.run import validate_partition

    result = validate_partition(Lake(lake_root), bench_spec(rows), "batch", DAY, NOW)
    return {
        "status": result.status,
        "checks": len(result.checks),
        "dropped": result.rows_dropped,
        "failed": result.reason_codes,
    }


def run_naive(lake_root: str, rows: int) -> dict[str, Any]:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd

    from pipelines.core.storage import Lake
    from pipelines.validation.checks import batch_checks
    from pipelines.validation.evaluation import expected_schema

    lake, spec = Lake(lake_root), bench_spec(rows)
    frame = pd.read_parquet(lake.partition_path("landing", "bench_events", DAY))
    expected = expected_schema(spec, "batch")
    checks = batch_checks(spec, expected, set(expected), DAY, NOW)
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("lake")
        .add_dataframe_asset("partition")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name="naive")
    for check in checks:
        kwargs = {
            k: pd.Timestamp(v) if isinstance(v, datetime) else v for k, v in check.kwargs.items()
        }
        suite.add_expectation(getattr(gxe, check.expectation)(**kwargs))
    outcome = batch.validate(suite, result_format="COMPLETE")
    return {"status": "pass" if outcome.success else "fail", "checks": len(checks)}


def child(side: str, lake_root: str, rows: int) -> None:
    start = time.perf_counter()
    facts = (run_gate if side == "gate" else run_naive)(lake_root, rows)
    wall = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    print(json.dumps({"wall": wall, "peak_mb": peak_mb, **facts}))


def measure(side: str, lake_root: str, rows: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "benchmarks.validate_bench", "--child", side, lake_root]
    done = subprocess.run([*args, "--rows", str(rows)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def frame_mb(rows: int) -> float:
    """In-memory size of the delivered frame (key, timestamp, 20 float64, 3 categorical)."""
    return rows * (8 + 8 + NUMERIC * 8 + CATEGORICAL * 1) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "LAKE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.rows[0])
        return
    print(
        "| rows | frame (MB) | gate wall (s) | naive GX wall (s) | wall ratio | gate peak RSS (MB) "
        "| naive peak RSS (MB) | checks | gate verdict |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            naive_lake, gate_lake = str(Path(folder) / "a"), str(Path(folder) / "b")
            prepare(naive_lake, rows)
            prepare(gate_lake, rows)
            naive = measure("naive", naive_lake, rows)
            gate = measure("gate", gate_lake, rows)
        verdict = (
            f"{gate['status']}, {gate['dropped']:,} rows dropped ({', '.join(gate['failed'])})"
        )
        ratio = gate["wall"] / naive["wall"]
        print(
            f"| {rows:,} | {frame_mb(rows):.0f} | {gate['wall']:.1f} | {naive['wall']:.1f} "
            f"| {ratio:.2f} | {gate['peak_mb']:.0f} | {naive['peak_mb']:.0f} "
            f"| {gate['checks']} | {verdict} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
