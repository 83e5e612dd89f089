"""The project's own metrics, sent through Airflow's metrics backend.

Whatever ``[metrics]`` configures (StatsD, DogStatsD or OpenTelemetry; prefix, allow and
block lists) carries these too, beside Airflow's own. Names put the model (and the severity,
column or outcome) in dotted segments, as Airflow's StatsD names do; the statsd-exporter
mapping in ``include/observability/statsd_mapping.yml`` turns them into labelled Prometheus
series (``mlops_gate_outcomes_total{model, outcome}``, ...). Emitting never fails a task.

Counters: ``mlops.validation.checks_failed.<model>.<severity>``,
``mlops.validation.quarantined_rows.<model>``, ``mlops.validation.blocked.<model>``,
``mlops.gate.<model>.<outcome>``, ``mlops.promotion.<model>.<action>``,
``mlops.scoring.rows.<model>``, ``mlops.retrain.requested.<model>``.
Gauges: ``mlops.drift.score.<model>.<column>``, ``mlops.drift.drifted_share.<model>``,
``mlops.drift.prediction.<model>``.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)


@functools.cache
def _backend() -> Any:
    """A metrics client built from Airflow's ``[metrics]`` settings, once per process."""
    from airflow.sdk.observability.metrics import stats_utils

    return stats_utils.get_stats_factory()()


def _name(metric: str, labels: tuple[object, ...]) -> str:
    """``mlops.<metric>.<labels>``; a dot inside a label (a column name) would add a
    segment, so it becomes ``_``."""
    from airflow.sdk.observability.stats import normalize_name_for_stats

    segments = ["mlops", metric, *(str(label).replace(".", "_") for label in labels)]
    return normalize_name_for_stats(".".join(segments), log_warning=False)


def incr(metric: str, *labels: object, count: int = 1) -> None:
    """Add to a counter; zeros are sent too, so every series exists from the first night."""
    try:
        _backend().incr(_name(metric, labels), count=count)
    except Exception:  # metrics are best effort
        log.warning("metric %s not sent", _name(metric, labels), exc_info=True)


def gauge(metric: str, *labels: object, value: float) -> None:
    try:
        _backend().gauge(_name(metric, labels), float(value))
    except Exception:
        log.warning("metric %s not sent", _name(metric, labels), exc_info=True)


def validation(model: str, verdict: dict[str, Any]) -> None:
    """Checks failed by severity and rows set aside, for the batch and its labels."""
    for part in ("batch", "labels"):
        result = verdict.get(part)
        if not result:
            continue
        for severity, counts in (result.get("counts") or {}).items():
            incr("validation.checks_failed", model, severity, count=counts.get("failed", 0))
        blocked = result.get("status") == "block"
        rows = result.get("rows", 0) if blocked else result.get("rows_dropped", 0)
        incr("validation.quarantined_rows", model, count=int(rows or 0))
        if blocked:
            incr("validation.blocked", model)


def drift(model: str, checked: dict[str, Any], scores: dict[str, float]) -> None:
    for column, score in scores.items():
        gauge("drift.score", model, column, value=score)
    gauge("drift.drifted_share", model, value=checked.get("drifted_share", 0.0))
    gauge("drift.prediction", model, value=len(checked.get("prediction_drift") or {}))


def gate(model: str, outcome: str) -> None:
    incr("gate", model, outcome or "unknown")


def promotion(model: str, action: str) -> None:
    incr("promotion", model, action)


def scored(model: str, rows: int) -> None:
    incr("scoring.rows", model, count=int(rows))


def retrain_requested(model: str) -> None:
    incr("retrain.requested", model)
