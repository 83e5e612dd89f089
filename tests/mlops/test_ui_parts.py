"""The pieces behind the UI: retrain overrides, link URLs, report paths, the models page."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

from pipelines.core.errors import SpecError
from pipelines.core.spec import training_overrides_schema, with_training_overrides
from pipelines.training.context import overrides_key

pytestmark = pytest.mark.unit


def test_overrides_change_training_for_one_run_and_merge_params(flight_spec):
    changed = with_training_overrides(
        flight_spec, {"params": {"num_leaves": 15}, "window_days": 7, "seed": 1}
    )
    assert changed.training.params == {**flight_spec.training.params, "num_leaves": 15}
    assert (changed.training.window_days, changed.training.seed) == (7, 1)
    assert changed.fingerprint() != flight_spec.fingerprint()
    assert changed.model_dump(exclude={"training"}) == flight_spec.model_dump(exclude={"training"})
    assert with_training_overrides(flight_spec, {}) is flight_spec
    assert with_training_overrides(flight_spec, None) is flight_spec
    same = with_training_overrides(flight_spec, {"seed": flight_spec.training.seed})
    assert same.fingerprint() == flight_spec.fingerprint()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"window_days": 0}, "training.window_days"),
        ({"num_boost_round": "many"}, "training.num_boost_round"),
        ({"algorithm": "xgboost"}, "algorithm cannot be overridden"),
        ({"params": ["num_leaves"]}, "training.params"),
    ],
)
def test_bad_overrides_are_refused_naming_the_field(flight_spec, overrides, named):
    with pytest.raises(SpecError, match=named):
        with_training_overrides(flight_spec, overrides)
    with pytest.raises(jsonschema.ValidationError):  # the form refuses them first
        jsonschema.validate(overrides, training_overrides_schema())


def test_the_form_schema_accepts_what_the_spec_accepts(flight_spec):
    good = {"params": {"learning_rate": 0.03}, "window_days": 3650, "early_stopping_rounds": 5}
    jsonschema.validate(good, training_overrides_schema())
    with_training_overrides(flight_spec, good)


def test_overrides_key_is_the_same_whatever_the_order():
    assert overrides_key({"window_days": 7, "params": {"b": 1, "a": 2}}) == overrides_key(
        {"params": {"a": 2, "b": 1}, "window_days": 7}
    )
    assert overrides_key({}) == overrides_key(None) == ""


def test_link_urls_carry_the_task_ids_safely():
    from mlops.links import MlopsLink, link_url

    run_id = "manual__2026-11-23T10:35:10.715864+00:00"
    url = link_url("mlflow_run", "flight_delay__training", run_id, "train", model="flight_delay")
    parts = urlsplit(url)
    assert parts.path == "/mlops/links/mlflow_run"
    query = parse_qs(parts.query)
    assert query["run_id"] == [run_id]  # '+' and ':' survive
    assert query["model"] == ["flight_delay"]
    assert "model=" not in link_url("model_version", "mlops__rollback", run_id, "rollback")
    link = MlopsLink("drift_report", "flight_delay")
    assert (link.name, link.xcom_key) == ("Drift report", "_link_mlops_drift_report")


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("validation/flights/date=2013-01-02/report.html", True),
        ("monitoring/flight_delay/date=2013-01-02/evidently.html", True),
        ("monitoring/flight_delay/date=2013-01-02/drift.json", True),
        ("validation/flights/../../raw/flights/date=2013-01-02/part-0.parquet", False),
        ("raw/flights/date=2013-01-02/part-0.parquet", False),
        ("promotions/flight_delay/history/00000001.json", False),
        ("validation//etc/passwd.html", False),
        ("/validation/x.html", False),
    ],
)
def test_only_reports_are_served(path, served):
    from mlops.ui.resolve import is_report

    assert is_report(path) is served


def test_model_and_date_of_a_task():
    from mlops.ui.resolve import model_of, run_day

    assert model_of({"model": "a"}, {"model": "b"}) == "a"
    assert model_of({}, {"model": "b"}) == "b"
    results = {"ingest": {"date": "2013-01-03"}, "train": {"day": "2013-01-03"}}
    assert run_day("validate", results) == date(2013, 1, 3)  # validate skipped: from ingest
    assert run_day("train", {"train": {"rows": 1}}) is None


def test_the_models_page_escapes_what_people_typed():
    from mlops.ui.pages import models_page

    model = {
        "model": "flight_delay",
        "owner": "ml-platform",
        "strategy": "stepwise",
        "versions": [],
        "share": 0.25,
        "step": 1,
        "steps": [10, 25, 50, 100],
        "history": [
            {
                "seq": 2,
                "action": "advance",
                "at": "2013-01-04T00:00:00+00:00",
                "by": "ana",
                "why": "<script>alert(1)</script>",
                "champion": "1",
                "challenger": "2",
                "share": 0.25,
                "step": 1,
            }
        ],
    }
    urls = {"airflow": "", "app": "/mlops", "mlflow": ""}
    html = models_page([model, {"model": "broken", "error": "MLflow <down>"}], urls)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "challenger share 25%, step 2 of 4" in html
    assert "MLflow &lt;down&gt;" in html
    assert 'href="/dags/flight_delay__promotion"' in html
