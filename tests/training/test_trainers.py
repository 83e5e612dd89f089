"""Every trainer through the same training step: fit, gate, register, reload, predict."""

from __future__ import annotations

from datetime import date, timedelta

import mlflow
import numpy as np
import pytest

from pipelines.core.errors import SpecError
from pipelines.core.spec import ModelSpec, parse_spec
from pipelines.training.pyfunc import as_model_input
from pipelines.training.train import train
from tests.conftest import replay

pytestmark = pytest.mark.integration
DAYS = [date(2013, 1, 1) + timedelta(days=i) for i in range(4)]


def with_algorithm(spec: ModelSpec, algorithm: str, **params) -> ModelSpec:
    data = spec.model_dump(mode="json")
    data["training"].update(algorithm=algorithm, params=params, num_boost_round=60)
    return parse_spec(data, f"{spec.name} ({algorithm})")


@pytest.mark.parametrize(
    ("model", "algorithm", "params"),
    [
        ("flight_delay", "sklearn_hgb", {"learning_rate": 0.1}),
        ("flight_delay", "sklearn_logreg", {"C": 0.5}),
        ("synthetic_demand", "sklearn_hgb", {}),
        ("synthetic_demand", "lightgbm", {"num_leaves": 15}),
        ("flight_delay", "torch_mlp", {"hidden": [32, 16], "epochs": 30, "learning_rate": 0.003}),
        ("synthetic_demand", "torch_mlp", {"hidden": [64], "epochs": 30}),
    ],
)
def test_trainer_end_to_end(request, lake, tracking_uri, model, algorithm, params):
    fixture = "flight_spec" if model == "flight_delay" else "synthetic_spec"
    spec = with_algorithm(request.getfixturevalue(fixture), algorithm, **params)
    replay(lake, spec, DAYS)
    result = train(lake, spec, DAYS[-1], tracking_uri)
    assert result.version == "1" and result.gate in {"pass", "fail"}
    if spec.label.task == "binary":
        assert 0.55 < result.value < 1
    else:
        assert 0 < result.value < 2

    mlflow.set_tracking_uri(tracking_uri)
    run = mlflow.get_run(result.run_id)
    assert run.data.params["algorithm"] == algorithm
    model_uri = f"models:/{spec.name}/1"
    loaded = mlflow.pyfunc.load_model(model_uri)
    rows = lake.read_partition("features", spec.name, DAYS[-1])
    predicted = np.asarray(loaded.predict(as_model_input(rows, spec)))
    assert len(predicted) == len(rows) and np.isfinite(predicted).all()


def test_logistic_regression_refuses_a_regression_label(synthetic_spec):
    with pytest.raises(SpecError, match=r"'sklearn_logreg' needs label\.task 'binary'"):
        with_algorithm(synthetic_spec, "sklearn_logreg")
