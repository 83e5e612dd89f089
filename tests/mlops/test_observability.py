"""The metrics the DAG layer sends, the statsd-exporter mapping and the Grafana dashboard
agree: every name sent matches exactly one rule, and every series the dashboard queries is
one a rule produces. (That the metrics really leave a DAG run is
tests/mlops/test_metrics_and_alerts.py.)"""

from __future__ import annotations

import json
import re
from fnmatch import translate

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.unit
OBSERVABILITY = ROOT / "include" / "observability"


class Recorder:
    """Stands in for the StatsD client: records the names the functions build."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def incr(self, name: str, count: int = 1) -> None:
        self.names.append(name)

    def gauge(self, name: str, value: float) -> None:
        self.names.append(name)


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """Every name the metrics module builds for one night of each kind of event."""
    from mlops import metrics

    recorder = Recorder()
    monkeypatch.setattr(metrics, "_backend", lambda: recorder)
    counts = {"block": {"passed": 3, "failed": 1}, "warn": {"passed": 2, "failed": 0}}
    batch = {"status": "block", "rows": 900, "rows_dropped": 0, "counts": counts}
    metrics.validation("flight_delay", {"batch": batch, "labels": None})
    metrics.drift("flight_delay", {"drifted_share": 0.1, "prediction_drift": {}}, {"dep.hour": 0.3})
    metrics.gate("flight_delay", "pass")
    metrics.promotion("flight_delay", "rollback")
    metrics.scored("flight_delay", 1000)
    metrics.retrain_requested("flight_delay")
    return [f"airflow.{name}" for name in recorder.names]


def rules() -> list[dict]:
    return yaml.safe_load((OBSERVABILITY / "statsd_mapping.yml").read_text())["mappings"]


def matches(rule: dict, name: str) -> bool:
    """statsd_exporter's glob: ``*`` stands for one dot-free segment."""
    pattern = translate(rule["match"]).replace(".*", "[^.]*")
    return re.fullmatch(pattern, name) is not None


def test_every_metric_sent_matches_exactly_one_mapping_rule(sent):
    assert len(sent) == 11
    assert "airflow.mlops.drift.score.flight_delay.dep_hour" in sent  # the dot is escaped
    for name in sent:
        matching = [rule["name"] for rule in rules() if matches(rule, name)]
        assert len(matching) == 1, (name, matching)


def test_the_dashboard_queries_only_series_the_mapping_produces():
    produced = {rule["name"] for rule in rules()}
    dashboard = json.loads((OBSERVABILITY / "grafana_dashboard.json").read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            series = set(re.findall(r"\b((?:mlops|airflow)_[a-z_]+)\b", target["expr"]))
            assert series and series <= produced, (panel["title"], series - produced)
