"""The preloading LocalExecutor: it imports every library the pipelines' steps import, starts
no thread doing so (its workers fork right after), and a process forked after the preload
trains with LightGBM's OpenMP threads and logs to MLflow like one that imported them itself."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest
from airflow.executors.local_executor import LocalExecutor

from mlops.executors import NOT_PRELOADED, PRELOADED, PreloadingLocalExecutor
from tests.conftest import ROOT

pytestmark = pytest.mark.unit


def imports_inside_functions() -> set[str]:
    """The top-level names of the third-party modules pipelines/ imports in a function body."""
    found: set[str] = set()
    for path in (ROOT / "pipelines").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found.update(alias.name for alias in inner.names)
                elif isinstance(inner, ast.ImportFrom) and inner.module and not inner.level:
                    found.add(inner.module)
    return {n for n in found if n.split(".")[0] not in sys.stdlib_module_names | {"pipelines"}}


def test_every_library_a_step_imports_is_preloaded_or_left_out_on_purpose():
    listed = PRELOADED + NOT_PRELOADED
    missing = {
        name
        for name in imports_inside_functions()
        if not any(f"{name}.".startswith(f"{p}.") or p.startswith(f"{name}.") for p in listed)
    }
    assert not missing, f"add to mlops.executors.PRELOADED (or NOT_PRELOADED): {sorted(missing)}"


def test_it_is_a_local_executor_so_airflow_standalone_keeps_it():
    assert issubclass(PreloadingLocalExecutor, LocalExecutor)
    assert PreloadingLocalExecutor.is_local
    assert "mlops.executors.PreloadingLocalExecutor" in (ROOT / "scripts" / "env.sh").read_text()


FORKED = """
import os, sys, threading
from mlops.executors import preload
preload()
assert threading.active_count() == 1, [t.name for t in threading.enumerate()]
assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
assert "torch" not in sys.modules
pid = os.fork()
if pid == 0:
    import lightgbm as lgb, mlflow, numpy as np
    x = np.random.default_rng(0).normal(size=(2000, 5))
    model = lgb.LGBMRegressor(n_estimators=20, n_jobs=2, verbose=-1).fit(x, x[:, 0])
    mlflow.set_tracking_uri("sqlite:///" + sys.argv[1])
    with mlflow.start_run():
        mlflow.log_metric("r2", float(model.score(x, x[:, 0])))
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status))
"""


def test_a_process_forked_after_the_preload_trains_and_logs(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FORKED), str(tmp_path / "mlflow.db")],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},  # no telemetry switches set
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip().endswith("child exit 0"), done.stdout + done.stderr[-3000:]
