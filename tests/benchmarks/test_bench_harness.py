"""The benchmarks' measuring: a child's peak memory is its own, not its parent's."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit


def test_a_child_reports_its_own_peak_rss_not_the_parents_that_spawned_it():
    ballast = np.ones(400 * 2**20 // 8)  # 400 MB touched here, as a parent that made the data
    done = subprocess.run(
        [sys.executable, "-c", "from benchmarks.harness import report; report({'ok': 1})"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    del ballast
    child = json.loads(done.stdout)
    assert child["ok"] == 1 and child["cpu_s"] > 0
    assert 5 < child["peak_rss_mb"] < 200  # ru_maxrss would say >= 400 (kept across exec)
