"""Training against a real MLflow tracking store and registry (SQLite in a temp folder)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from mlflow import MlflowClient

from pipelines.core.errors import NotEnoughDataError
from pipelines.training.context import RunContext
from pipelines.training.pyfunc import as_model_input
from pipelines.training.train import train
from tests.conftest import replay

pytestmark = pytest.mark.integration
DAYS = [date(2013, 1, 1) + timedelta(days=i) for i in range(4)]


@pytest.fixture
def replayed_flights(lake, flight_spec):
    replay(lake, flight_spec, DAYS)
    return lake


def test_train_logs_registers_and_predicts_from_raw_features(
    replayed_flights, flight_spec, tracking_uri, tmp_path
):
    import mlflow

    context = RunContext(dag_id="flight_delay__training", run_id="r1", try_number=1)
    result = train(
        replayed_flights, flight_spec, DAYS[-1], tracking_uri, context, str(tmp_path / "art")
    )
    assert result.version == "1" and not result.reused
    assert 0.5 < result.value <= 1.0
    assert result.rows_train > 500 and result.rows_valid > 500

    client = MlflowClient(tracking_uri)
    version = client.get_model_version("flight_delay", "1")
    assert version.tags["mlops.logical_date"] == "2013-01-04"
    assert version.tags["mlops.train_days"] == "2013-01-01..2013-01-03"
    assert version.tags["mlops.airflow.dag_id"] == "flight_delay__training"
    assert version.tags["mlops.spec_hash"] == flight_spec.fingerprint()
    assert version.tags["mlops.lineage_uri"] == f"runs:/{result.run_id}/lineage.json"
    assert len(version.tags["mlops.inputs_sha256"]) == 64
    run = client.get_run(result.run_id)
    assert run.data.metrics["roc_auc"] == pytest.approx(result.value)
    lineage = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/lineage.json")
    assert len(lineage["inputs"]) == 6  # features + labels of 3 labelled days
    assert all(len(item["sha256"]) == 64 for item in lineage["inputs"])

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model("models:/flight_delay/1")
    assert model.metadata.signature is not None
    scored = replayed_flights.read_partition("features", "flight_delay", DAYS[-1])
    predictions = model.predict(as_model_input(scored, flight_spec))
    assert len(predictions) == len(scored)
    assert ((predictions > 0) & (predictions < 1)).all()


def test_rerun_for_the_same_date_registers_no_duplicate(
    replayed_flights, flight_spec, tracking_uri
):
    first = train(replayed_flights, flight_spec, DAYS[-1], tracking_uri)
    again = train(replayed_flights, flight_spec, DAYS[-1], tracking_uri)
    assert again.reused and again.version == first.version and again.run_id == first.run_id
    assert again.value == pytest.approx(first.value)
    versions = MlflowClient(tracking_uri).search_model_versions("name='flight_delay'")
    assert len(versions) == 1


def test_backfill_date_sees_only_labels_known_then(replayed_flights, flight_spec, tracking_uri):
    early = train(replayed_flights, flight_spec, DAYS[2], tracking_uri)
    version = MlflowClient(tracking_uri).get_model_version("flight_delay", early.version)
    assert version.tags["mlops.train_days"] == "2013-01-01..2013-01-02"


def test_regression_model_trains_on_synthetic_data(lake, synthetic_spec, tracking_uri):
    replay(lake, synthetic_spec, DAYS[:3])
    result = train(lake, synthetic_spec, DAYS[2], tracking_uri)
    assert result.metric == "rmse"
    assert 0 < result.value < 2.0


def test_no_labels_yet_is_a_skip_and_registers_nothing(lake, flight_spec, tracking_uri):
    replay(lake, flight_spec, DAYS[:1])
    with pytest.raises(
        NotEnoughDataError, match=r"no labelled features in 2012-12-05\.\.2012-12-31"
    ):
        train(lake, flight_spec, DAYS[0], tracking_uri)
    assert MlflowClient(tracking_uri).search_registered_models() == []


def test_too_few_rows_names_the_spec_setting(lake, flight_spec, tracking_uri):
    replay(lake, flight_spec, DAYS[:2])
    strict = flight_spec.model_copy(
        update={"training": flight_spec.training.model_copy(update={"min_rows": 100_000})}
    )
    with pytest.raises(NotEnoughDataError, match=r"fewer than training\.min_rows=100000"):
        train(lake, strict, DAYS[1], tracking_uri)
    assert MlflowClient(tracking_uri).search_registered_models() == []


def test_single_class_labels_are_refused(lake, flight_spec, tracking_uri):
    replay(lake, flight_spec, DAYS[:3])
    for day in DAYS[:2]:
        labels = lake.read_partition("raw", "flights_labels", day)
        labels["is_late"] = 0
        lake.write_partition(labels, "raw", "flights_labels", day)
    with pytest.raises(NotEnoughDataError, match=r"single class \[0\]"):
        train(lake, flight_spec, DAYS[2], tracking_uri)
    assert MlflowClient(tracking_uri).search_registered_models() == []


def test_labels_that_are_all_null_count_as_not_arrived(lake, flight_spec, tracking_uri):
    replay(lake, flight_spec, DAYS[:3])
    for day in DAYS[:2]:
        labels = lake.read_partition("raw", "flights_labels", day)
        labels["is_late"] = None
        lake.write_partition(labels, "raw", "flights_labels", day)
    with pytest.raises(NotEnoughDataError, match="no labelled features in"):
        train(lake, flight_spec, DAYS[2], tracking_uri)
    assert MlflowClient(tracking_uri).search_registered_models() == []


def test_a_one_class_holdout_is_insufficient_sample_and_the_result_is_valid_json(
    replayed_flights, flight_spec, tracking_uri, tmp_path
):
    """ROC AUC is undefined when the holdout's labels hold one class: the gate says so, no
    alias moves, and the result (XCom, the pod's JSON) carries null instead of NaN."""
    import json

    from pipelines.core.layout import RAW, labels_dataset

    dataset = labels_dataset(flight_spec.source.dataset)
    holdout_day = DAYS[-2]  # the newest labelled day on DAYS[-1]
    labels = replayed_flights.read_partition(RAW, dataset, holdout_day)
    labels["is_late"] = labels["is_late"] * 0  # every flight of the holdout day on time
    replayed_flights.write_partition(labels, RAW, dataset, holdout_day)

    result = train(
        replayed_flights, flight_spec, DAYS[-1], tracking_uri, RunContext(), str(tmp_path / "a")
    )
    assert result.gate == "insufficient_sample" and result.alias == ""
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["value"] is None
    version = MlflowClient(tracking_uri).get_model_version("flight_delay", result.version)
    assert "undefined" in version.tags["mlops.gate.reasons"]
    assert version.aliases == []
