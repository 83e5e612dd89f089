"""Step results stay valid JSON: NaN and infinity become null wherever a result leaves a step."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from pipelines.core.jsonsafe import json_safe

pytestmark = pytest.mark.unit


def test_nan_and_infinity_become_null_at_any_depth():
    value = {
        "auc": math.nan,
        "scores": [1.0, math.inf, -math.inf, np.float64("nan"), np.int64(3)],
        "nested": {"day": date(2013, 1, 2), "pair": (np.float32(0.5), None)},
        "flag": np.bool_(True),
    }
    safe = json_safe(value)
    assert json.loads(json.dumps(safe, allow_nan=False)) == {
        "auc": None,
        "scores": [1.0, None, None, None, 3],
        "nested": {"day": "2013-01-02", "pair": [0.5, None]},
        "flag": True,
    }
    with pytest.raises(ValueError, match="Out of range float"):
        json.dumps(value, allow_nan=False, default=str)  # what Airflow's XCom push refuses


def test_arrays_and_series_become_lists():
    import pandas as pd

    value = {"a": np.array([1.0, np.nan]), "s": pd.Series([np.inf, 2]), "x": np.float32(0.5)}
    assert json_safe(value) == {"a": [1.0, None], "s": [None, 2.0], "x": 0.5}


def test_a_task_built_by_step_returns_json_safe_results():
    """The XCom payload of every project task: an undefined metric is null, not NaN."""
    from mlops.runtime import step

    @step(task_id="measure")
    def measure(**context):
        return {"roc_auc": math.nan, "rows": 3}

    returned = measure.function()
    assert returned == {"roc_auc": None, "rows": 3}
    assert json.dumps(returned, allow_nan=False)


def test_the_lake_writes_strict_json(lake):
    path = "monitoring/m/date=2013-01-02/x.json"
    text = Path(lake.write_json({"score": math.nan, "drop": math.inf}, path)).read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert lake.read_json(path) == {"drop": None, "score": None}
