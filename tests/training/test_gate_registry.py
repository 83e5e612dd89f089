"""Gate and registry against a real MLflow store: champion bootstrap, challenger, rejection,
crash recovery, and failures that leave the champion untouched."""

from __future__ import annotations

import socket
from datetime import date, timedelta

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from pipelines.core.errors import TrackingUnavailableError, TrainingError
from pipelines.training.train import train
from tests.conftest import replay

pytestmark = pytest.mark.integration
DAYS = [date(2013, 1, 1) + timedelta(days=i) for i in range(5)]


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


@pytest.fixture
def synthetic(lake, synthetic_spec):
    replay(lake, synthetic_spec, DAYS)
    return lake


def test_first_passing_version_becomes_champion_with_its_reasons(
    synthetic, synthetic_spec, tracking_uri
):
    result = train(synthetic, synthetic_spec, DAYS[3], tracking_uri)
    client = MlflowClient(tracking_uri)
    assert (result.gate, result.alias) == ("pass", "champion")
    assert aliases(client, "synthetic_demand") == {"champion": "1"}
    tags = client.get_model_version("synthetic_demand", "1").tags
    assert tags["mlops.decision"] == "bootstrap_champion"
    assert tags["mlops.decision.by"] == "cli"
    assert tags["mlops.gate.decision"] == "pass"
    mlflow.set_tracking_uri(tracking_uri)
    gate = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/gate.json")
    assert gate["passed"] is True and gate["rows"] == result.rows_holdout
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert artifacts == {"plots/feature_importance.png", "plots/holdout.png"}


def test_a_good_retrain_becomes_challenger_and_the_champion_stays(
    synthetic, synthetic_spec, tracking_uri
):
    train(synthetic, synthetic_spec, DAYS[3], tracking_uri)
    result = train(synthetic, synthetic_spec, DAYS[4], tracking_uri)
    assert (result.gate, result.alias) == ("pass", "challenger"), result
    client = MlflowClient(tracking_uri)
    assert aliases(client, "synthetic_demand") == {"champion": "1", "challenger": "2"}
    tags = client.get_model_version("synthetic_demand", "2").tags
    assert tags["mlops.gate.champion_value"] and tags["mlops.gate.ci"].startswith("[")


def test_a_model_trained_on_noise_is_rejected_and_the_champion_is_untouched(
    synthetic, synthetic_spec, tracking_uri
):
    train(synthetic, synthetic_spec, DAYS[3], tracking_uri)
    rng = np.random.default_rng(0)
    for day in DAYS[:2]:  # the training days of the Jan 5 run
        labels = synthetic.read_partition("raw", "demand_events_labels", day)
        labels["target"] = rng.permutation(labels["target"].to_numpy())
        synthetic.write_partition(labels, "raw", "demand_events_labels", day)
    result = train(synthetic, synthetic_spec, DAYS[4], tracking_uri)
    client = MlflowClient(tracking_uri)
    assert (result.gate, result.alias) == ("fail", "")
    assert aliases(client, "synthetic_demand") == {"champion": "1"}
    tags = client.get_model_version("synthetic_demand", result.version).tags
    assert tags["mlops.decision"] == "rejected"
    assert "below min_improvement" in tags["mlops.decision.why"]


def test_too_small_a_holdout_registers_but_promotes_nothing(lake, flight_spec, tracking_uri):
    replay(lake, flight_spec, DAYS[:2])
    result = train(lake, flight_spec, DAYS[1], tracking_uri)
    assert result.gate == "insufficient_sample" and result.alias == ""
    assert aliases(MlflowClient(tracking_uri), "flight_delay") == {}


def test_rerun_after_a_crash_before_the_alias_moved_finishes_the_job(
    synthetic, synthetic_spec, tracking_uri
):
    first = train(synthetic, synthetic_spec, DAYS[3], tracking_uri)
    client = MlflowClient(tracking_uri)
    client.delete_registered_model_alias("synthetic_demand", "champion")  # the crash
    for key in ("mlops.decision", "mlops.decision.by", "mlops.decision.at", "mlops.decision.why"):
        client.delete_model_version_tag("synthetic_demand", "1", key)
    again = train(synthetic, synthetic_spec, DAYS[3], tracking_uri)
    assert again.reused and again.version == first.version and again.alias == "champion"
    assert aliases(client, "synthetic_demand") == {"champion": "1"}
    assert len(client.search_model_versions("name='synthetic_demand'")) == 1


def test_an_all_null_feature_fails_clearly_and_touches_nothing(
    synthetic, synthetic_spec, tracking_uri
):
    train(synthetic, synthetic_spec, DAYS[3], tracking_uri)
    for day in DAYS[:4]:
        features = synthetic.read_partition("features", "synthetic_demand", day)
        features["num_3"] = np.nan
        synthetic.write_partition(features, "features", "synthetic_demand", day)
    with pytest.raises(TrainingError, match=r"feature\(s\) \['num_3'\] are null in every"):
        train(synthetic, synthetic_spec, DAYS[4], tracking_uri)
    client = MlflowClient(tracking_uri)
    assert aliases(client, "synthetic_demand") == {"champion": "1"}
    assert len(client.search_model_versions("name='synthetic_demand'")) == 1


def test_mlflow_unreachable_fails_before_any_write(monkeypatch, synthetic, synthetic_spec):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    with pytest.raises(TrackingUnavailableError, match=f"MLflow at {uri} is unreachable"):
        train(synthetic, synthetic_spec, DAYS[3], uri)
