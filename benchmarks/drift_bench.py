"""Drift check at scale: the monitoring step vs the exact full-data tests vs Evidently.

Data (seeded): a reference of ``--reference`` rows and a day of ``--rows`` rows, 30 features
(24 numeric of five shapes, ties included; 6 categorical of 3 to 200 levels). A third of the
numeric columns do not move, a third move a little (0.02-0.1 std, spread change), a third a
lot; three categorical columns change their mix. The day is one features Parquet file in a
lake, the reference profile is built as training builds it (pipelines/monitoring/reference.py).

Sides, each in a fresh process (own peak RSS), timed around the work after imports:

- ``ours``: ``pipelines.monitoring.check.column_drift`` as the monitoring task runs it (read
  each column from Parquet, count it on the stored grid, score), once per test configuration
  (psi/jensenshannon, ks/chisquare, wasserstein/psi);
- ``exact``: every test on the full reference and the full day in memory (scipy's ks_2samp and
  wasserstein_distance, psi on the reference deciles, category counts): the verdicts to match;
- ``evidently``: ``DataDriftPreset`` with the spec's default tests (psi/jensenshannon) on the
  same full data as pandas frames, under ``--evidently-timeout`` seconds.

Usage: ``python -m benchmarks.drift_bench --rows 1000000 10000000``; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.harness import in_child, report

DAY = date(2013, 6, 1)
NUMERIC, CATEGORICAL = 24, 6
EVIDENTLY_MEMORY_GB = 20  # address-space cap of the Evidently side (the machine has 24 GiB)
CONFIGS = (("psi", "jensenshannon"), ("ks", "chisquare"), ("wasserstein", "psi"))


def bench_spec(numeric: str = "psi", categorical: str = "jensenshannon") -> Any:
    from pipelines.core.spec import parse_spec

    features = [{"name": f"x{i}", "type": "numeric"} for i in range(NUMERIC)]
    features += [{"name": f"c{i}", "type": "categorical"} for i in range(CATEGORICAL)]
    return parse_spec(
        {
            "name": "drift_bench",
            "owner": "bench",
            "source": {"kind": "lake", "dataset": "drift_bench"},
            "entity_key": "id",
            "timestamp": "ts",
            "label": {"name": "y", "task": "regression"},
            "features": features,
            "gates": {"metric": "rmse"},
            "drift": {"numeric": {"test": numeric}, "categorical": {"test": categorical}},
            "schedules": {"start_date": "2013-01-01"},
        },
        "drift_bench",
    )


def generate(rows: int, seed: int, drifted: bool) -> Any:
    """One frame of the benchmark's 30 features (the day's when ``drifted``)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        group, shape = divmod(i, 8)  # 0: unchanged, 1: a little, 2: a lot
        move = (0.0, 0.02 + 0.01 * shape, 0.3 + 0.1 * shape)[group] if drifted else 0.0
        kind = shape % 5
        if kind == 0:
            values = rng.normal(loc=move, scale=1.0 + move, size=rows)
        elif kind == 1:
            values = rng.lognormal(mean=move, sigma=0.8, size=rows)
        elif kind == 2:
            values = rng.uniform(0.0, 1.0 + move, size=rows)
        elif kind == 3:  # hours: heavy ties
            values = rng.integers(0, 24, size=rows).astype("float64") + (move > 0.2) * 2
            values = np.minimum(values, 23)
        else:
            values = rng.exponential(1.0 + move, size=rows)
        if i % 7 == 0:
            values[rng.random(rows) < 0.02 + (0.05 if drifted and group == 2 else 0)] = np.nan
        columns[f"x{i}"] = values
    for i in range(CATEGORICAL):
        levels = (3, 8, 20, 50, 100, 200)[i]
        weights = np.linspace(1.0, 2.0, levels)
        if drifted and i >= 3:
            weights = weights[::-1] ** (1 + i / 3)
        codes = rng.choice(levels, size=rows, p=weights / weights.sum())
        columns[f"c{i}"] = pd.Categorical.from_codes(codes, [f"v{k}" for k in range(levels)])
    return pd.DataFrame(columns)


def paths(folder: str) -> tuple[str, str, str]:
    return f"{folder}/lake", f"{folder}/reference.parquet", f"{folder}/profile.json"


def setup(folder: str, rows: int, reference_rows: int) -> dict[str, Any]:
    from pipelines.core.storage import Lake
    from pipelines.monitoring.reference import column_profile

    lake_root, reference_path, profile_path = paths(folder)
    spec = bench_spec()
    reference = generate(reference_rows, seed=1, drifted=False)
    reference.to_parquet(reference_path, index=False)
    profile = {"columns": {f.name: column_profile(f, reference[f.name]) for f in spec.features}}
    Path(profile_path).write_text(json.dumps(profile))
    del reference
    Lake(lake_root).write_partition(
        generate(rows, seed=2, drifted=True), "features", spec.name, DAY
    )
    return {"profile_kb": Path(profile_path).stat().st_size // 1024}


def run_ours(folder: str, config: int) -> dict[str, Any]:
    import numpy  # noqa: F401
    import scipy.spatial.distance
    import scipy.stats  # noqa: F401

    from pipelines.core.storage import Lake
    from pipelines.monitoring.check import column_drift

    lake_root, _, profile_path = paths(folder)
    spec = bench_spec(*CONFIGS[config])
    lake = Lake(lake_root)
    started = time.perf_counter()
    reference = json.loads(Path(profile_path).read_text())
    path = lake.partition_path("features", spec.name, DAY)
    judged = list(column_drift(lake, spec, [path], reference))
    seconds = time.perf_counter() - started
    return {"work_s": seconds, "verdicts": {f"{c.column}:{c.test}": c.drifted for c in judged}}


def exact_scores(reference: Any, today: Any, column: str) -> dict[str, float]:
    """Every applicable test on full data: the numbers the approximations must agree with."""
    import numpy as np
    import pandas as pd
    from scipy import stats
    from scipy.spatial import distance

    ref, cur = reference[column], today[column]
    if isinstance(ref.dtype, pd.CategoricalDtype):
        keys = sorted(set(ref.dropna().astype(str)) | set(cur.dropna().astype(str)))
        p = ref.astype(str).value_counts().reindex(keys, fill_value=0).to_numpy(float)
        q = cur.astype(str).value_counts().reindex(keys, fill_value=0).to_numpy(float)
        table = np.vstack([p, q])
        return {
            "psi": _psi(p, q),
            "jensenshannon": float(distance.jensenshannon(p / p.sum(), q / q.sum())),
            "chisquare": float(stats.chi2_contingency(table, correction=False).pvalue),
        }
    r, c = ref.dropna().to_numpy(), cur.dropna().to_numpy()
    # psi on the reference deciles, bins x <= decile
    cut_edges = np.unique(np.quantile(r, np.linspace(0.1, 0.9, 9)))
    p = np.bincount(np.searchsorted(cut_edges, r, side="left"), minlength=len(cut_edges) + 1)
    q = np.bincount(np.searchsorted(cut_edges, c, side="left"), minlength=len(cut_edges) + 1)
    return {
        "psi": _psi(p.astype(float), q.astype(float)),
        "ks": float(stats.ks_2samp(r, c).statistic),
        "wasserstein": float(stats.wasserstein_distance(r, c) / r.std()),
    }


def _psi(p: Any, q: Any) -> float:
    import numpy as np

    p = np.maximum(p / p.sum(), 1e-4)
    q = np.maximum(q / q.sum(), 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def full_frames(folder: str) -> tuple[Any, Any]:
    """The whole reference and the whole day as pandas frames."""
    import pandas as pd

    from pipelines.core.storage import Lake

    lake_root, reference_path, _ = paths(folder)
    today = Lake(lake_root).read_partition("features", bench_spec().name, DAY)
    return pd.read_parquet(reference_path), today


def run_exact(folder: str) -> dict[str, Any]:
    from pipelines.core.spec import DriftTestSpec
    from pipelines.monitoring import statistics as drift

    spec = bench_spec()
    started = time.perf_counter()
    reference, today = full_frames(folder)
    verdicts, scores = {}, {}
    for feature in spec.features:
        for test, value in exact_scores(reference, today, feature.name).items():
            verdicts[f"{feature.name}:{test}"] = drift.drifted(DriftTestSpec(test=test), value)
            scores[f"{feature.name}:{test}"] = value
    return {"work_s": time.perf_counter() - started, "verdicts": verdicts, "scores": scores}


def run_evidently(folder: str) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    spec = bench_spec()
    started = time.perf_counter()
    reference, today = full_frames(folder)
    definition = DataDefinition(
        numerical_columns=spec.features_of_type("numeric"),
        categorical_columns=spec.features_of_type("categorical"),
    )
    preset = DataDriftPreset(
        num_method="psi", num_threshold=0.2, cat_method="jensenshannon", cat_threshold=0.1
    )
    snapshot = Report([preset]).run(
        Dataset.from_pandas(today, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    verdicts = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            score = float(metric["value"])
            key = f"{config['column']}:{config['method']}"
            verdicts[key] = score >= config["threshold"]
    return {"work_s": time.perf_counter() - started, "verdicts": verdicts}


def child(side: str, folder: str, rows: int, reference_rows: int, config: int) -> None:
    if side == "setup":
        report(setup(folder, rows, reference_rows))
    elif side == "ours":
        report(run_ours(folder, config))
    elif side == "exact":
        report(run_exact(folder))
    else:
        import resource

        # A memory error instead of the OOM killer taking the machine down with it.
        limit = EVIDENTLY_MEMORY_GB * 1024**3
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        report(run_evidently(folder))


def agreement(verdicts: dict[str, bool], exact: dict[str, bool]) -> tuple[int, int, list[str]]:
    shared = [k for k in verdicts if k in exact]
    differ = [k for k in shared if verdicts[k] != exact[k]]
    return len(shared) - len(differ), len(shared), differ


def measure(rows: int, reference_rows: int, evidently_timeout: int) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        base = ("benchmarks.drift_bench",)

        def side(name: str, config: int = 0, timeout: float | None = None) -> dict[str, Any]:
            return in_child(
                *base, name, folder, str(rows), str(reference_rows), str(config), timeout=timeout
            )

        setup_facts = side("setup")
        exact = side("exact")
        ours = [side("ours", i) for i in range(len(CONFIGS))]
        started = time.perf_counter()
        try:
            evidently: dict[str, Any] | None = side("evidently", timeout=evidently_timeout)
        except subprocess.TimeoutExpired:
            evidently, why = None, f"not done after {evidently_timeout} s"
        except RuntimeError as exc:  # the child's last line says why (e.g. MemoryError)
            lines_out = [line for line in str(exc).splitlines() if line.strip()]
            spent = time.perf_counter() - started
            evidently, why = None, f"after {spent:.0f} s: {lines_out[-1][:160]}"
    verdicts = {k: v for result in ours for k, v in result["verdicts"].items()}
    same, total, differ = agreement(verdicts, exact["verdicts"])
    drifted = sum(verdicts.values())
    for i, result in enumerate(ours):
        tests = "/".join(CONFIGS[i])
        lines.append(
            f"| {rows:,} | ours ({tests}) | {result['work_s']:.1f} | "
            f"{result['peak_rss_mb']:.0f} | {sum(result['verdicts'].values())}/30 drifted |"
        )
    lines.append(
        f"| {rows:,} | exact full-data tests | {exact['work_s']:.1f} | {exact['peak_rss_mb']:.0f} "
        f"| our verdicts equal on {same}/{total} ({same / total:.1%}); differ: "
        f"{', '.join(differ) or 'none'} |"
    )
    if evidently is None:
        lines.append(
            f"| {rows:,} | Evidently DataDriftPreset | failed | (cap {EVIDENTLY_MEMORY_GB} GB "
            f"address space) | {why} |"
        )
    else:
        e_same, e_total, e_differ = agreement(evidently["verdicts"], exact["verdicts"])
        lines.append(
            f"| {rows:,} | Evidently DataDriftPreset (psi/jensenshannon) | "
            f"{evidently['work_s']:.1f} | {evidently['peak_rss_mb']:.0f} | verdicts equal to "
            f"exact on {e_same}/{e_total}; differ: {', '.join(e_differ) or 'none'} |"
        )
    sys.stderr.write(f"{rows}: setup {setup_facts}, {drifted} drifted verdicts\n")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--reference", type=int, default=1_000_000)
    parser.add_argument("--evidently-timeout", type=int, default=900)
    parser.add_argument("--child", nargs=5)
    args = parser.parse_args()
    if args.child:
        name, folder, rows, reference_rows, config = args.child
        child(name, folder, int(rows), int(reference_rows), int(config))
        return 0
    lines = [
        "| rows | side | time (s) | peak RSS (MB) | verdicts |",
        "|---:|---|---:|---:|---|",
    ]
    for rows in args.rows:
        measured = measure(rows, min(args.reference, rows), args.evidently_timeout)
        sys.stdout.write("\n".join(measured) + "\n")
        lines += measured
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
