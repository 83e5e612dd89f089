"""The promotion history's times are the model's days: a record stamped at the end of a day is
that day's midnight in the model's timezone, whatever the timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import mlflow
import numpy as np
import pytest

from pipelines.core.calendar import day_end
from pipelines.core.layout import CHAMPION, Tags
from pipelines.core.registry import Registry
from pipelines.serving import history
from pipelines.serving.runs import promotion_run

pytestmark = pytest.mark.integration
TRAINED = date(2013, 1, 2)


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return np.zeros(len(model_input))


@pytest.fixture
def crowned(tmp_path, synthetic_spec):
    """A model in America/New_York whose first champion was trained for 2013-01-02."""
    schedules = synthetic_spec.schedules.model_copy(update={"timezone": "America/New_York"})
    spec = synthetic_spec.model_copy(update={"schedules": schedules})
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    registry = Registry(tracking)
    with mlflow.start_run(experiment_id=registry.client.create_experiment("history")):
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant())
    tags = {Tags.LOGICAL_DATE: TRAINED.isoformat()}
    version = registry.register(info.model_uri, spec.name, tags)
    registry.set_alias(spec.name, CHAMPION, str(version.version))
    return spec, tracking


def test_the_first_record_is_stamped_at_the_end_of_the_trained_day_in_the_models_timezone(
    crowned, lake
):
    spec, tracking = crowned
    promotion_run(lake, spec, tracking, day_end(date(2013, 1, 5), "America/New_York"), "t")
    (first,) = history.read_history(lake, spec.name)
    assert first.action == "bootstrap"
    assert first.at == datetime(2013, 1, 3, 5, tzinfo=UTC)  # midnight in New York, not UTC
    assert first.at.astimezone(day_end(TRAINED, "America/New_York").tzinfo).hour == 0
    assert history.champion_at(lake, spec.name, datetime(2013, 1, 3, 4, 59, tzinfo=UTC)) is None
    assert history.champion_at(lake, spec.name, datetime(2013, 1, 3, 5, 1, tzinfo=UTC)) == "1"
