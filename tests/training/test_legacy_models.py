"""Versions logged before the stage packages still load and predict with the current code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.core.spec import parse_spec
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
FIXTURES = ROOT / "tests" / "fixtures" / "legacy_models"
LEGACY = sorted(p for p in FIXTURES.iterdir() if p.is_dir())


def test_the_fixtures_import_the_old_module_path():
    assert [p.name for p in LEGACY] == ["legacy_lightgbm", "legacy_torch_mlp"]
    for folder in LEGACY:
        assert "from pipelines.model import TabularModel" in (folder / "model_code.py").read_text()
        assert not (folder / "code").exists()  # only the current package can answer


@pytest.mark.parametrize("folder", LEGACY, ids=lambda p: p.name)
def test_a_version_logged_by_the_old_layout_predicts_as_it_did(folder: Path):
    import mlflow

    from pipelines.training.pyfunc import TabularModel, as_model_input, predict_logged

    spec = parse_spec(yaml.safe_load((folder / "spec.yaml").read_text()), "fixture")
    rows = pd.read_parquet(folder / "rows.parquet")
    expected = json.loads((folder / "expected_predictions.json").read_text())
    model = mlflow.pyfunc.load_model(str(folder))
    assert isinstance(model.unwrap_python_model(), TabularModel)  # one class, either path
    assert np.allclose(model.predict(as_model_input(rows, spec)), expected)
    assert np.allclose(predict_logged(model, rows, spec), expected)


def test_old_paths_are_the_modules_that_own_the_code_now():
    """In a fresh process: each old path is the new module itself, not a copy."""
    script = (
        "import importlib, json, pipelines.legacy as legacy\n"
        "print(json.dumps({old: importlib.import_module(old) is importlib.import_module(new)"
        " for old, new in legacy.OLD_TO_NEW.items()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == dict.fromkeys(
        [
            "pipelines.model",
            "pipelines.model_code",
            "pipelines.trainers",
            "pipelines.dataset",
            "pipelines.spec",
        ],
        True,
    )


def test_an_unknown_old_path_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError):
        __import__("pipelines.validate")
