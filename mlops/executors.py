"""A LocalExecutor whose task processes start with the pipelines' libraries already imported.

Every task runs in a process forked from one of the executor's workers, and every step imports
its libraries inside its body (parsing a DAG file must stay light): pandas and MLflow in
almost every task, Great Expectations in validation, LightGBM and scikit-learn in training,
Evidently in monitoring: one to four seconds of CPU per task, paid again by every task of
every night. The workers are forked from the scheduler when the executor starts, so
importing those libraries once there, before the fork, gives them to every task for nothing
(copy-on-write). Only imports: nothing here starts a thread or opens a connection before the
fork. PyTorch is left out (a GPU model trains in its own pod, and a CPU one pays its own
import).

    AIRFLOW__CORE__EXECUTOR=mlops.executors.PreloadingLocalExecutor

``airflow standalone`` keeps it (it is a local executor); `make demo` and the soak use it.
"""

from __future__ import annotations

import importlib
import os
import time

from airflow.executors.local_executor import LocalExecutor

from pipelines.core.environment import QUIET_ENV

# What pipelines/ imports inside its steps (tests/mlops/test_executors.py keeps this complete).
PRELOADED = (
    "numpy",
    "pandas",
    "pyarrow.compute",
    "pyarrow.parquet",
    "scipy.spatial",
    "scipy.stats",
    "joblib",
    "croniter",
    "matplotlib.figure",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.impute",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "lightgbm",
    "mlflow",
    "mlflow.pyfunc",
    "great_expectations",
    "great_expectations.expectations",
    "evidently",
    "evidently.presets",
)
NOT_PRELOADED = ("torch",)


def preload(modules: tuple[str, ...] = PRELOADED) -> float:
    """Import ``modules``; return the seconds it took. Telemetry is switched off first (as
    everywhere in the project): MLflow's telemetry client would start a thread on import,
    and no thread may run in a process about to fork."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    started = time.monotonic()
    for name in modules:
        importlib.import_module(name)
    return time.monotonic() - started


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor that imports :data:`PRELOADED` before it forks its workers."""

    def start(self) -> None:
        self.log.info("Preloaded the pipelines' libraries in %.1f s", preload())
        super().start()
