"""Nothing phones home: every way the project runs turns usage telemetry off, as each
library reads its own setting (MLflow 3 honours ``DO_NOT_TRACK`` only when it is "true", so
the usual ``DO_NOT_TRACK=1`` alone left it on)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

# MLflow by its own test; Great Expectations and Evidently by the values they document.
CHECK = """
import os
from mlflow.telemetry.utils import is_telemetry_disabled
print(is_telemetry_disabled(), os.environ.get("GX_ANALYTICS_ENABLED"), "DO_NOT_TRACK" in os.environ)
"""
QUIET = "True false True"


def clean_env() -> dict[str, str]:
    """No CI or pytest variables: MLflow turns itself off when it sees those."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}


def telemetry_in(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        env={**clean_env(), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def dockerfile_env(text: str) -> dict[str, str]:
    """The ``ENV`` settings of a Dockerfile (``KEY=value`` pairs, continued lines joined)."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = [line[4:].split() for line in joined.splitlines() if line.startswith("ENV ")]
    return dict(pair.split("=", 1) for line in pairs for pair in line)


def test_the_demo_and_stack_environment_turns_telemetry_off():
    done = subprocess.run(
        ["bash", "-c", f"source scripts/env.sh && exec {sys.executable} -c '{CHECK}'"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == QUIET


def test_training_pods_turn_telemetry_off():
    from mlops.tasks.pod import QUIET_ENV

    assert telemetry_in(QUIET_ENV) == QUIET


def test_the_training_image_turns_telemetry_off():
    env = dockerfile_env((ROOT / "include" / "training-image" / "Dockerfile").read_text())
    assert telemetry_in(env) == QUIET


@pytest.mark.parametrize("service", ["airflow-worker", "airflow-scheduler", "mlflow"])
def test_compose_services_turn_telemetry_off(service):
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
    if service == "mlflow":  # the tracking server and its UI: MLflow's switch is enough
        assert telemetry_in(env).startswith("True ")
    else:
        assert telemetry_in(env) == QUIET


def test_do_not_track_1_alone_leaves_mlflow_telemetry_on():
    """Why the explicit switch exists (fails once MLflow reads DO_NOT_TRACK=1 as well)."""
    assert telemetry_in({"DO_NOT_TRACK": "1"}).startswith("False ")
