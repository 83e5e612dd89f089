"""The logged model: a pyfunc that takes raw feature columns and returns predictions.

Logged as MLflow "models from code" (no pickle): ``pipelines/model_code.py`` declares the
model class, and the artifacts carry the booster and the spec with the category levels fixed
at training time. A scorer passes features as read from the lake (via ``as_model_input``)
and gets the encoding the model was trained with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from pipelines.dataset import model_matrix
from pipelines.spec import ModelSpec

CODE_PATH = Path(__file__).with_name("model_code.py")


class TabularModel(PythonModel):
    """A LightGBM booster plus the spec and category levels needed to build its matrix."""

    def load_context(self, context: Any) -> None:
        import lightgbm as lgb

        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.spec = ModelSpec.model_validate(meta["spec"])
        self.levels: dict[str, list[str]] = meta["levels"]

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return self.booster.predict(model_matrix(model_input, self.spec, self.levels))


def write_artifacts(
    folder: Path, booster: Any, spec: ModelSpec, levels: dict[str, list[str]]
) -> dict[str, str]:
    """Files the pyfunc loads: ``{"booster": ..., "meta": ...}``."""
    booster_path, meta_path = folder / "booster.txt", folder / "meta.json"
    booster.save_model(str(booster_path))
    meta_path.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "levels": levels}))
    return {"booster": str(booster_path), "meta": str(meta_path)}


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
