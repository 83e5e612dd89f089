"""Drift statistics from stored profiles: one pass over today's data, none over the reference.

A profile is small JSON. Numeric columns keep the reference's quantile grid (``GRID`` quantile
edges, deduplicated) with the count of values in each cell; categorical columns keep their
category counts. Today's data is counted into the same cells in one pass, and each test is
computed from the two sets of counts:

- ``psi``: on the reference's deciles (cells merged into ``PSI_BINS`` bins), or on categories;
- ``ks``: the largest gap between the two CDFs at the grid's edges (exact at the edges; the
  reference mass between two edges, about 1 / GRID, bounds the error);
- ``wasserstein``: the area between the two CDFs over the grid plus the exact tails beyond
  it, divided by the reference's standard deviation (as Evidently norms it);
- ``jensenshannon``: the distance between the category shares (natural log, as scipy);
- ``chisquare``: the p-value of the chi-square test of homogeneity on the category counts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.spec import DriftTestSpec

GRID = 1000
PSI_BINS = 10
MAX_CATEGORIES = 1000
OTHER = "__other__"  # reference categories beyond MAX_CATEGORIES
NEW = "__new__"  # categories today that the reference never saw
EPSILON = 1e-4  # share given to empty cells in psi, as Evidently does


def numeric_profile(values: np.ndarray) -> dict[str, Any]:
    """The reference profile of a numeric column (NaN is missing).

    One sort: the quantiles are read off the sorted values (numpy's default linear rule) and
    the cells are counted by binary search on them.
    """
    present = np.sort(values[~np.isnan(values)])
    profile: dict[str, Any] = {"kind": "numeric", "rows": len(values)}
    if len(present) == 0:
        return {**profile, "nulls": len(values), "edges": [], "counts": [0]}
    grid = _sorted_quantiles(present, np.linspace(0.0, 1.0, GRID + 1))
    step = GRID // PSI_BINS
    edges = np.unique(grid)
    below_or_at = np.searchsorted(present, edges, side="right")
    cells = np.diff(below_or_at, prepend=0, append=len(present))
    return {
        **profile,
        "edges": edges.tolist(),
        "deciles": np.unique(grid[step:GRID:step]).tolist(),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "nulls": int(len(values) - len(present)),
        "counts": cells.tolist(),
        "below": 0.0,  # the edges span the reference's own range
        "above": 0.0,
    }


def _sorted_quantiles(ordered: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``np.quantile`` (linear) of already sorted values, without another partition."""
    position = probabilities * (len(ordered) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def numeric_counts(values: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    """Values counted into the cells of ``edges``: cell ``i`` holds ``edges[i-1] < x <= edges[i]``,
    the first cell ``x <= edges[0]``, the last ``x > edges[-1]``; plus the tails' distances."""
    nulls = int(np.count_nonzero(np.isnan(values)))
    if len(edges) == 0:
        return {"nulls": nulls, "counts": [int(len(values) - nulls)], "below": 0.0, "above": 0.0}
    cells = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    cells[-1] -= nulls  # NaN sorts after every edge
    low, high = edges[0], edges[-1]
    below = values[values < low]
    above = values[values > high]
    return {
        "nulls": nulls,
        "counts": cells.tolist(),
        "below": float((low - below).sum()),
        "above": float((above - high).sum()),
    }


def category_counts(values: pd.Series) -> tuple[dict[str, int], int]:
    """Counts per category (as text) and the number of missing values."""
    counts = values.value_counts(dropna=True, sort=False)
    counted = {str(k): int(v) for k, v in counts.items() if v}
    return counted, int(values.isna().sum())


def categorical_profile(values: pd.Series) -> dict[str, Any]:
    """The reference profile of a categorical (or boolean) column."""
    counts, nulls = category_counts(values)
    if len(counts) > MAX_CATEGORIES:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = dict(ranked[:MAX_CATEGORIES])
        kept[OTHER] = sum(v for _, v in ranked[MAX_CATEGORIES:])
        counts = kept
    return {"kind": "categorical", "rows": len(values), "nulls": nulls, "counts": counts}


def categorical_today(reference: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    """Today's counts on the reference's categories (others folded into OTHER or NEW)."""
    counts, nulls = category_counts(values)
    known = reference["counts"]
    folded: dict[str, int] = {}
    for category, count in counts.items():
        key = category if category in known else (OTHER if OTHER in known else NEW)
        folded[key] = folded.get(key, 0) + count
    return {"kind": "categorical", "rows": len(values), "nulls": nulls, "counts": folded}


def numeric_today(reference: dict[str, Any], values: np.ndarray) -> dict[str, Any]:
    edges = np.asarray(reference["edges"], dtype="float64")
    return {"kind": "numeric", "rows": len(values), **numeric_counts(values, edges)}


def null_share(profile: dict[str, Any]) -> float:
    return profile["nulls"] / profile["rows"] if profile["rows"] else 0.0


def score(test: str, reference: dict[str, Any], today: dict[str, Any]) -> float:
    """The test's score of today against the reference (NaN when either side has no values)."""
    if reference["kind"] == "numeric":
        ref, cur = (np.asarray(p["counts"], dtype="float64") for p in (reference, today))
        if ref.sum() == 0 or cur.sum() == 0:
            return math.nan
        if test == "psi":
            return _psi(*_decile_groups(reference, ref, cur))
        if test == "ks":
            return float(np.abs(_cdf(ref) - _cdf(cur)).max())
        if test == "wasserstein":
            return _wasserstein(reference, today, ref, cur)
        raise ValueError(f"{test!r} is not a numeric drift test")
    keys = sorted(set(reference["counts"]) | set(today["counts"]))
    ref = np.array([reference["counts"].get(k, 0) for k in keys], dtype="float64")
    cur = np.array([today["counts"].get(k, 0) for k in keys], dtype="float64")
    if ref.sum() == 0 or cur.sum() == 0:
        return math.nan
    if test == "psi":
        return _psi(ref, cur)
    if test == "jensenshannon":
        from scipy.spatial import distance

        return float(distance.jensenshannon(ref / ref.sum(), cur / cur.sum()))
    if test == "chisquare":
        from scipy.stats import chi2_contingency

        table = np.vstack([ref, cur])
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2:
            return 1.0  # one category on both sides: nothing can differ
        return float(chi2_contingency(table, correction=False).pvalue)
    raise ValueError(f"{test!r} is not a categorical drift test")


def drifted(test: DriftTestSpec, value: float) -> bool:
    """Whether a score is drift: at or above the threshold, or below it for a p-value."""
    if math.isnan(value):
        return False
    return bool(value < test.limit if test.test == "chisquare" else value >= test.limit)


def _cdf(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) / counts.sum()


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    p = np.maximum(ref / ref.sum(), EPSILON)
    q = np.maximum(cur / cur.sum(), EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def _decile_groups(
    reference: dict[str, Any], ref: np.ndarray, cur: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cells merged into the reference's decile bins (``x <= decile``, as cells are): the
    deciles are grid edges, so every cell falls in exactly one bin."""
    edges = np.asarray(reference["edges"], dtype="float64")
    deciles = np.asarray(reference["deciles"], dtype="float64")
    group = np.append(np.searchsorted(deciles, edges, side="left"), len(deciles))
    bins = len(deciles) + 1
    return (
        np.bincount(group, weights=ref, minlength=bins),
        np.bincount(group, weights=cur, minlength=bins),
    )


def _wasserstein(
    reference: dict[str, Any], today: dict[str, Any], ref: np.ndarray, cur: np.ndarray
) -> float:
    """Area between the CDFs (trapezoids between edges, exact tails), over the reference std."""
    edges = np.asarray(reference["edges"], dtype="float64")
    gap = np.abs(_cdf(ref) - _cdf(cur))[: len(edges)]  # CDF gap at each edge
    inside = float(np.sum((gap[:-1] + gap[1:]) / 2 * np.diff(edges))) if len(edges) > 1 else 0.0
    n_ref, n_cur = ref.sum(), cur.sum()
    tails = abs(today["below"] / n_cur - reference["below"] / n_ref) + abs(
        today["above"] / n_cur - reference["above"] / n_ref
    )
    std = reference.get("std") or 1.0
    return float((inside + tails) / std)
