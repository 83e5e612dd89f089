"""The serving tests' world: synthetic_demand with a stepwise policy, three replayed days and
a first champion trained on the third, with its own lake and MLflow store."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from mlflow import MlflowClient

from pipelines.core.layout import CHAMPION
from pipelines.core.spec import PromotionSpec
from pipelines.core.storage import Lake
from pipelines.training.context import RunContext
from pipelines.training.train import train
from tests.conftest import replay

START = date(2013, 1, 1)


@pytest.fixture
def world(tmp_path, synthetic_spec):
    policy = PromotionSpec(
        strategy="stepwise", steps=[10, 25, 50, 100], min_labelled_rows=100, max_regression=0.15
    )
    spec = synthetic_spec.model_copy(update={"promotion": policy})
    lake = Lake(str(tmp_path / "lake"))
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    days = [START + timedelta(days=i) for i in range(3)]
    replay(lake, spec, days)
    trained = train(lake, spec, days[-1], tracking, RunContext(), str(tmp_path / "artifacts"))
    assert trained.alias == CHAMPION
    return spec, lake, tracking, MlflowClient(tracking)
