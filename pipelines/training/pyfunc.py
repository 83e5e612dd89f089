"""The logged model: a pyfunc that takes raw feature columns and returns predictions.

Logged as MLflow "models from code" (no pickle): ``model_code.py`` beside this module declares
the model class, and the artifacts carry the trainer's files and the spec with the category
levels fixed at training time. A scorer passes features as read from the lake (via
``as_model_input``) and gets the encoding the model was trained with, whatever the trainer.
Versions logged before the stage packages import this module as ``pipelines.model``
(pipelines/legacy.py keeps that path).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from pipelines.core.spec import ModelSpec
from pipelines.training.dataset import model_matrix
from pipelines.training.trainers import FittedModel, load

CODE_PATH = Path(__file__).with_name("model_code.py")


class TabularModel(PythonModel):
    """A fitted model of any trainer plus the spec and category levels to build its matrix."""

    def load_context(self, context: Any) -> None:
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.spec = ModelSpec.model_validate(meta["spec"])
        self.levels: dict[str, list[str]] = meta["levels"]
        self.fitted = load(meta["algorithm"], context.artifacts)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return self.fitted.predict(model_matrix(model_input, self.spec, self.levels))


def write_artifacts(
    folder: Path, fitted: FittedModel, spec: ModelSpec, levels: dict[str, list[str]]
) -> dict[str, str]:
    """Files the pyfunc loads: the trainer's own files plus ``meta`` (spec, levels)."""
    files = fitted.save(folder)
    meta = {"algorithm": fitted.algorithm, "spec": spec.model_dump(mode="json"), "levels": levels}
    (folder / "meta.json").write_text(json.dumps(meta))
    return {**files, "meta": str(folder / "meta.json")}


# What the logged pyfunc imports (pipelines/ travels as code), pinned to the installed versions.
# Declared rather than inferred: MLflow's inference reloads the model in a subprocess.
MODEL_PACKAGES = ["mlflow", "pandas", "numpy", "pyarrow", "fsspec", "pydantic", "pyyaml"]
MODEL_PACKAGES += ["croniter"]
ALGORITHM_PACKAGES = {
    "lightgbm": ["lightgbm"],
    "sklearn_hgb": ["scikit-learn", "joblib"],
    "sklearn_logreg": ["scikit-learn", "joblib"],
    "torch_mlp": ["torch"],
}


def model_requirements(algorithm: str) -> list[str]:
    """Pip requirements of a logged model, e.g. ``["lightgbm==4.7.0", "mlflow==3.17.2", ...]``."""
    from importlib.metadata import version

    names = MODEL_PACKAGES + ALGORITHM_PACKAGES[algorithm]
    return [f"{name}=={version(name)}" for name in names]


def as_model_input(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """Features in the logged signature's types: categoricals as str, the rest as float."""
    out = pd.DataFrame(index=frame.index)
    for feature in spec.features:
        column = frame[feature.name]
        if feature.type == "categorical":
            out[feature.name] = column.astype("string").astype(object)
        else:
            out[feature.name] = column.astype("Float64").astype("float64")
    return out


def predict_logged(model: Any, frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    """Predictions of a loaded pyfunc; ours skip the pyfunc's input conversion (same matrix)."""
    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else None
    if isinstance(inner, TabularModel):
        return np.asarray(inner.fitted.predict(model_matrix(frame, inner.spec, inner.levels)))
    return np.asarray(model.predict(as_model_input(frame, spec)), dtype="float64")
