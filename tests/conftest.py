"""Test harness: isolated Airflow home and lake per session, markers enforced at the root.

Environment is set here, before anything imports Airflow, so every test (and every
subprocess it starts) uses a throwaway Airflow home with a real SQLite metadata DB.
"""

from __future__ import annotations

import ast
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from pipelines.core.environment import QUIET_ENV

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
MODELS = ROOT / "include" / "models"
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="mlops-tests-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # 64 bytes, as deployments should use: a short key signs tokens insecurely
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW_VAR_MLOPS_LAKE_URI": str(_SESSION_DIR / "lake"),
        "AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI": f"sqlite:///{_SESSION_DIR / 'mlflow.db'}",
        "AIRFLOW_VAR_MLOPS_MLFLOW_ARTIFACT_ROOT": str(_SESSION_DIR / "mlartifacts"),
        **QUIET_ENV,
        # Where a client-side store (sqlite:// in a test) puts the artifacts of experiments
        # created without a location; MLflow's default is ./mlruns, in the checkout. A
        # private MLflow variable: if it goes, the only effect is that folder again.
        "_MLFLOW_SERVER_ARTIFACT_ROOT": str(_SESSION_DIR / "mlruns"),
    }
)
os.environ.pop("MLOPS_MODELS_DIR", None)
# scripts/ for the stack helpers (the project's packages are installed)
for folder in (ROOT / "scripts",):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

CATEGORY_MARKERS = ("unit", "integration")
BUCKET = "mlops-lake"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test must say what kind it is; list every one that does not, then stop."""
    unmarked = [
        item.nodeid
        for item in items
        if not any(item.get_closest_marker(m) for m in CATEGORY_MARKERS)
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests without a category marker (unit or integration):\n  " + "\n  ".join(unmarked)
        )


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite) in the session's Airflow home."""
    home = Path(os.environ["AIRFLOW_HOME"])
    if not (home / "airflow.db").exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return home


@pytest.fixture
def flight_spec():
    from pipelines.core.spec import load_spec

    return load_spec(MODELS / "flight_delay.yaml")


def steady_synthetic() -> dict:
    """The shipped synthetic_demand spec without its demo scenario (drift events, a two-day
    window, a stepwise rollout, retrains on request only): a calm model, so each test sets
    only the behaviour it checks."""
    data = yaml.safe_load((MODELS / "synthetic_demand.yaml").read_text())
    data["source"]["options"]["drift"] = []
    data["training"].update(window_days=14, min_rows=1000)
    data["gates"].pop("min_improvement", None)
    for scenario in ("drift", "performance", "retraining", "promotion"):
        data.pop(scenario, None)
    return data


@pytest.fixture
def synthetic_spec():
    from pipelines.core.spec import parse_spec

    return parse_spec(steady_synthetic(), "synthetic_demand.yaml")


@pytest.fixture
def lake(tmp_path: Path):
    from pipelines.core.storage import Lake

    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A real MLflow tracking store and registry: SQLite in a temp folder."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def imported_modules(folder: Path) -> set[str]:
    """Top-level modules the Python files under a folder import (absolute imports)."""
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def free_port() -> int:
    """A loopback TCP port nobody listens on (for servers the tests start)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deliver(lake, spec, day):
    """Ingest night D and validate it (landing -> raw or quarantine), as the DAG would."""
    from pipelines.sources.ingest import ingest
    from pipelines.validation.run import validate_day

    ingest(lake, spec, day)
    return validate_day(lake, spec, day)


def replay(lake, spec, days) -> None:
    """Ingest, validate and build features for each day, as the nightly DAG would."""
    from pipelines.features.build import build_features

    for day in days:
        deliver(lake, spec, day)
        build_features(lake, spec, day)


def deploy_models(monkeypatch, folder: Path, spec_data: dict):
    """A models folder with this spec (and the flagship, which the example DAG file reads),
    its own lake and MLflow store, as the Airflow Variables of a deployment; returns
    (models folder, lake, tracking URI)."""
    from pipelines.core.storage import Lake

    models = folder / "models"
    models.mkdir()
    if spec_data["name"] != "flight_delay":
        (models / "flight_delay.yaml").write_text((MODELS / "flight_delay.yaml").read_text())
    (models / f"{spec_data['name']}.yaml").write_text(yaml.safe_dump(spec_data))
    lake = Lake(str(folder / "lake"))
    tracking = f"sqlite:///{folder / 'mlflow.db'}"
    for key, value in {
        "MLOPS_MODELS_DIR": str(models),
        "AIRFLOW_VAR_MLOPS_LAKE_URI": lake.root,
        "AIRFLOW_VAR_MLOPS_MLFLOW_TRACKING_URI": tracking,
        "AIRFLOW_VAR_MLOPS_MLFLOW_ARTIFACT_ROOT": str(folder / "artifacts"),
    }.items():
        monkeypatch.setenv(key, value)
    return models, lake, tracking


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3-compatible server (moto, server mode) on loopback with the lake bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",  # noqa: S106 - moto accepts any
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
