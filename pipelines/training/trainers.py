"""Trainers behind one interface, chosen by ``training.algorithm`` in the spec.

Each ``fit`` takes the model matrix (numeric float64 columns, categoricals as pandas
``category`` with the levels fixed at training time), stops early on the time-based
validation split where the algorithm iterates, and returns a ``FittedModel`` that predicts
(probability of class 1, or the value), reports feature importance and its parameters, and
saves itself to files the logged pyfunc loads back with ``load``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipelines.core.metrics import HIGHER_IS_BETTER, metric_value
from pipelines.core.spec import ModelSpec


class FittedModel(Protocol):
    """What training, evaluation, logging and scoring need from any trained model."""

    algorithm: str
    best_iteration: int

    def predict(self, matrix: pd.DataFrame) -> np.ndarray: ...

    def importance(self) -> dict[str, float]: ...

    def params(self) -> dict[str, Any]: ...

    def save(self, folder: Path) -> dict[str, str]: ...


# ------------------------------------------------------------------------------ LightGBM
def lightgbm_params(spec: ModelSpec) -> dict[str, Any]:
    defaults = {
        "objective": "binary" if spec.label.task == "binary" else "regression",
        "verbosity": -1,
        "seed": spec.training.seed,
        "deterministic": True,
        "force_row_wise": True,
    }
    return {**defaults, **spec.training.params}


class LightGBMModel:
    """A LightGBM booster (saved as its text model)."""

    algorithm = "lightgbm"

    def __init__(self, booster: Any, params: dict[str, Any] | None = None) -> None:
        self.booster = booster
        self.best_iteration = int(booster.best_iteration or booster.current_iteration())
        self._params = params or {}

    def predict(self, matrix: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(matrix))

    def importance(self) -> dict[str, float]:
        gain = self.booster.feature_importance("gain").tolist()
        return dict(zip(self.booster.feature_name(), gain, strict=True))

    def params(self) -> dict[str, Any]:
        return {f"lgb.{k}": v for k, v in self._params.items()}

    def save(self, folder: Path) -> dict[str, str]:
        path = folder / "model.lgb.txt"
        self.booster.save_model(str(path))
        return {"model": str(path)}

    @classmethod
    def load(cls, files: dict[str, str]) -> LightGBMModel:
        import lightgbm as lgb

        return cls(lgb.Booster(model_file=files["model"]))


def fit_lightgbm(
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
) -> LightGBMModel:
    """LightGBM with early stopping on the validation days."""
    import lightgbm as lgb

    params = lightgbm_params(spec)
    categorical = spec.features_of_type("categorical")
    train_set = lgb.Dataset(x_train, label=y_train, categorical_feature=categorical or "auto")
    valid_set = lgb.Dataset(x_valid, label=y_valid, reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=spec.training.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(spec.training.early_stopping_rounds, verbose=False)],
    )
    return LightGBMModel(booster, params)


# ------------------------------------------------------------------------- scikit-learn
class SklearnModel:
    """A scikit-learn estimator or pipeline (saved with joblib, as MLflow's own flavor does)."""

    def __init__(self, algorithm: str, estimator: Any, best_iteration: int, task: str) -> None:
        self.algorithm = algorithm
        self.estimator = estimator
        self.best_iteration = best_iteration
        self.task = task

    def predict(self, matrix: pd.DataFrame) -> np.ndarray:
        prepared = _prepare_for_sklearn(matrix, self.algorithm)
        if self.task == "binary":
            return np.asarray(self.estimator.predict_proba(prepared)[:, 1])
        return np.asarray(self.estimator.predict(prepared))

    def importance(self) -> dict[str, float]:
        final = self.estimator[-1] if hasattr(self.estimator, "steps") else self.estimator
        if hasattr(final, "coef_"):
            names = self.estimator[:-1].get_feature_names_out()
            return dict(zip(names, np.abs(final.coef_).ravel().tolist(), strict=True))
        return {}

    def params(self) -> dict[str, Any]:
        final = self.estimator[-1] if hasattr(self.estimator, "steps") else self.estimator
        return {f"sk.{k}": v for k, v in final.get_params().items() if _loggable(v)}

    def save(self, folder: Path) -> dict[str, str]:
        import joblib

        path = folder / "model.joblib"
        joblib.dump(self.estimator, path)
        meta = folder / "sklearn.json"
        meta.write_text(json.dumps({"algorithm": self.algorithm, "task": self.task}))
        return {"model": str(path), "sklearn": str(meta)}

    @classmethod
    def load(cls, files: dict[str, str]) -> SklearnModel:
        import joblib

        meta = json.loads(Path(files["sklearn"]).read_text())
        return cls(meta["algorithm"], joblib.load(files["model"]), 0, meta["task"])


def _loggable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _prepare_for_sklearn(matrix: pd.DataFrame, algorithm: str) -> pd.DataFrame:
    """HGB reads pandas categoricals natively; the linear pipeline wants strings."""
    if algorithm != "sklearn_logreg":
        return matrix
    out = matrix.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(object).where(out[column].notna(), "<missing>")
    return out


def fit_sklearn_hgb(
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
) -> SklearnModel:
    """HistGradientBoosting: pick the iteration count on the validation days, then refit."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    estimator_class = (
        HistGradientBoostingClassifier
        if spec.label.task == "binary"
        else HistGradientBoostingRegressor
    )
    params = {
        "max_iter": spec.training.num_boost_round,
        "categorical_features": "from_dtype",
        "early_stopping": False,
        "random_state": spec.training.seed,
        **spec.training.params,
    }
    model = estimator_class(**params).fit(x_train, y_train)
    staged = (
        (p[:, 1] for p in model.staged_predict_proba(x_valid))
        if spec.label.task == "binary"
        else model.staged_predict(x_valid)
    )
    scores = np.array([metric_value(spec.gates.metric, y_valid, p) for p in staged])
    pick = np.nanargmax if HIGHER_IS_BETTER[spec.gates.metric] else np.nanargmin
    best_iteration = int(pick(scores)) + 1
    if best_iteration < model.n_iter_:
        model = estimator_class(**{**params, "max_iter": best_iteration}).fit(x_train, y_train)
    return SklearnModel("sklearn_hgb", model, best_iteration, spec.label.task)


def fit_sklearn_logreg(
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
) -> SklearnModel:
    """Impute + scale numbers, one-hot categories, L2 logistic regression (binary only)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = spec.features_of_type("categorical")
    numeric = [f for f in spec.feature_names if f not in categorical]
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical),
        ]
    )
    params = {"C": 1.0, "max_iter": 1000, "random_state": spec.training.seed}
    params.update(spec.training.params)
    pipeline = Pipeline([("columns", columns), ("model", LogisticRegression(**params))])
    pipeline.fit(_prepare_for_sklearn(x_train, "sklearn_logreg"), y_train)
    return SklearnModel("sklearn_logreg", pipeline, 0, spec.label.task)


# ---------------------------------------------------------------------------- dispatch
def fit_torch_mlp(*args: Any) -> FittedModel:
    from pipelines.training.torch_mlp import fit_torch_mlp as fit_mlp  # torch only when asked for

    return fit_mlp(*args)


def load_torch_mlp(files: dict[str, str]) -> FittedModel:
    from pipelines.training.torch_mlp import TorchMLPModel  # torch only when asked for

    return TorchMLPModel.load(files)


FITTERS: dict[str, Callable[..., FittedModel]] = {
    "lightgbm": fit_lightgbm,
    "sklearn_hgb": fit_sklearn_hgb,
    "sklearn_logreg": fit_sklearn_logreg,
    "torch_mlp": fit_torch_mlp,
}
LOADERS: dict[str, Callable[[dict[str, str]], FittedModel]] = {
    "lightgbm": LightGBMModel.load,
    "sklearn_hgb": SklearnModel.load,
    "sklearn_logreg": SklearnModel.load,
    "torch_mlp": load_torch_mlp,
}


def fit(
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
) -> FittedModel:
    """Train the spec's algorithm."""
    return FITTERS[spec.training.algorithm](spec, x_train, y_train, x_valid, y_valid)


def load(algorithm: str, files: dict[str, str]) -> FittedModel:
    """Load what ``FittedModel.save`` wrote."""
    return LOADERS[algorithm](files)
