"""Every name the project writes outside its own memory, owned here and only here: the lake's
zones and paths, MLflow aliases and tag names.

Lake: ``<root>/<zone>/<dataset or model>/date=YYYY-MM-DD/<file>``. Deliveries land in
``landing``; validation moves each to ``raw`` (clean) or ``quarantine``; a person's discard
moves it on to ``discarded``. Steps write ``features`` and ``predictions`` per model; the
verdicts and decisions that people read live in ``validation``, ``decisions``,
``monitoring`` and ``promotions``.

Registry: versions carry tags under one prefix (``mlops.``); the aliases ``champion``,
``challenger`` and ``previous`` are the promotion history's projection (never stages).
"""

from __future__ import annotations

import re
from datetime import date

PART_FILE = "part-0.parquet"
DATE_KEY = "date="  # partition folders are named date=YYYY-MM-DD
_DATED = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})(?:/([^/]+))?$")
_ANY_DATE = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})(?:/|$)")

# ------------------------------------------------------------------------------ zones
LANDING = "landing"  # as delivered; nothing but validation reads it
RAW = "raw"  # validated: the clean lake
QUARANTINE = "quarantine"  # blocked batches and dropped rows, with their reasons
DISCARDED = "discarded"  # what a person discarded after review
SUPERSEDED = "superseded"  # clean data a later, different delivery of the same date replaced
FEATURES = "features"
PREDICTIONS = "predictions"
VALIDATION = "validation"  # verdicts and reports per (dataset, date)
DECISIONS = "decisions"  # people's quarantine decisions per (dataset, date)
MONITORING = "monitoring"  # drift verdicts, reports and retrain decisions per (model, date)
PROMOTIONS = "promotions"  # the append-only promotion history per model
REPORT_ZONES = (VALIDATION, MONITORING)  # the only zones the UI serves files from

LABELS_SUFFIX = "_labels"


def labels_dataset(dataset: str) -> str:
    """The lake dataset holding ``dataset``'s labels (partitioned by event date)."""
    return f"{dataset}{LABELS_SUFFIX}"


def date_folder(zone: str, name: str, day: date) -> str:
    """``<zone>/<name>/date=D``: one (dataset or model, date) of a zone."""
    return f"{zone}/{name}/{DATE_KEY}{day.isoformat()}"


def dated(path: str) -> tuple[date, str] | None:
    """The date and file name of ``.../date=D/<file>`` (file '' for the folder itself), or None
    for any other path."""
    found = _DATED.search(path.rstrip("/"))
    if found is None:
        return None
    return date.fromisoformat(found.group(1)), found.group(2) or ""


def newest_dated(paths: list[str], leaf: str) -> tuple[date, str] | None:
    """The newest ``.../date=D/<leaf>`` among lake paths, with its date."""
    found = [(d[0], path) for path in paths if (d := dated(path)) is not None and d[1] == leaf]
    return max(found, default=None)


def date_in(uri: str) -> date | None:
    """The date of the first ``date=D`` folder anywhere in a URI."""
    found = _ANY_DATE.search(uri)
    return date.fromisoformat(found.group(1)) if found else None


def partition_file(zone: str, name: str, day: date) -> str:
    """The one Parquet file of a (zone, dataset, date) partition, lake-relative."""
    return f"{date_folder(zone, name, day)}/{PART_FILE}"


# --------------------------------------------------------------------------- validation
VALIDATION_RESULT = "result.json"
VALIDATION_REPORT = "report.html"
QUARANTINE_NOTES = ("validation.json", "REASON.txt")
DROPPED_FILE = "dropped.parquet"
REASONS_COLUMN = "_mlops_reasons"  # the reason codes of each dropped row


def validation_folder(dataset: str, day: date) -> str:
    return date_folder(VALIDATION, dataset, day)


def validation_result(dataset: str, day: date) -> str:
    return f"{validation_folder(dataset, day)}/{VALIDATION_RESULT}"


def validation_report(dataset: str, day: date) -> str:
    return f"{validation_folder(dataset, day)}/{VALIDATION_REPORT}"


def quarantine_folder(dataset: str, day: date) -> str:
    return date_folder(QUARANTINE, dataset, day)


def decisions_folder(dataset: str, day: date) -> str:
    return date_folder(DECISIONS, dataset, day)


def discarded_folder(dataset: str, day: date) -> str:
    return date_folder(DISCARDED, dataset, day)


def superseded_file(dataset: str, day: date, sha256: str) -> str:
    """Where the clean partition of an earlier delivery (hash ``sha256``) is kept."""
    return f"{date_folder(SUPERSEDED, dataset, day)}/{sha256[:16]}.parquet"


# --------------------------------------------------------------------------- monitoring
DRIFT_RESULT = "drift.json"
RETRAIN_DECISION = "retrain.json"
EVIDENTLY_HTML = "evidently.html"
EVIDENTLY_JSON = "evidently.json"


def monitoring_folder(model: str, day: date) -> str:
    return date_folder(MONITORING, model, day)


def drift_result(model: str, day: date) -> str:
    return f"{monitoring_folder(model, day)}/{DRIFT_RESULT}"


def retrain_decision(model: str, day: date) -> str:
    return f"{monitoring_folder(model, day)}/{RETRAIN_DECISION}"


def evidently_report(model: str, day: date) -> str:
    return f"{monitoring_folder(model, day)}/{EVIDENTLY_HTML}"


# ---------------------------------------------------------------------------- promotion
def history_folder(model: str) -> str:
    return f"{PROMOTIONS}/{model}/history"


def history_record(model: str, seq: int) -> str:
    return f"{history_folder(model)}/{seq:08d}.json"


PROMOTION_DECISION = "decision.json"


def decisions_of(model: str) -> str:
    """The folder of a model's nightly promotion decisions, one ``date=D`` folder each."""
    return f"{PROMOTIONS}/{model}/decisions"


def promotion_decision(model: str, day: date) -> str:
    """The promotion decision made for partition day D (whatever it was: hold, start...)."""
    return f"{decisions_of(model)}/{DATE_KEY}{day.isoformat()}/{PROMOTION_DECISION}"


# ----------------------------------------------------------------------------- registry
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
CATCH_UP = "catch_up"  # predictions of a day scored late, before the model had a champion
OVERRIDE = "override"  # predictions scored with a version a person forced
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)
TAG_PREFIX = "mlops."
TAG_VALUE_LIMIT = 5000  # MLflow's limit on a tag value


def tag(name: str) -> str:
    """The full name of a project tag: ``tag("logical_date")`` is ``mlops.logical_date``."""
    return f"{TAG_PREFIX}{name}"


class Tags:
    """Tag names on model versions and runs (see README, How it works: MLflow)."""

    MODEL = tag("model")
    LOGICAL_DATE = tag("logical_date")  # the partition date a version was trained for
    SPEC_HASH = tag("spec_hash")
    CODE_VERSION = tag("code_version")
    TRAIN_DAYS = tag("train_days")  # "first..last" day of the training window
    INPUT_PARTITIONS = tag("input_partitions")
    INPUTS_SHA256 = tag("inputs_sha256")
    RUN_ID = tag("run_id")
    LINEAGE_URI = tag("lineage_uri")
    LEARNED_SUITE_URI = tag("learned_suite_uri")
    REFERENCE_URI = tag("reference_uri")
    BEHIND_FRONTIER = tag("behind_frontier")  # trained for a date behind the model's frontier
    KIND = tag("kind")  # of a run: "monitoring"
    REFERENCE_VERSION = tag("reference_version")
    TRIGGERS = tag("triggers")
    RETRAIN = tag("retrain")
    DECISION = tag("decision")  # what training's gate did with the version
    DECISION_BY = tag("decision.by")
    DECISION_AT = tag("decision.at")
    DECISION_WHY = tag("decision.why")
    OVERRIDES = tag("airflow.overrides")
    ROLLOUT_LAST = tag("rollout.last")
    ROLLOUT_ENDED = tag("rollout.ended")
    VALIDATION_STATUS = tag("validation.status")
    VALIDATION_URI = tag("validation.uri")
    VALIDATION_REASON_CODES = tag("validation.reason_codes")
    VALIDATION_ACCEPTED_BY = tag("validation.accepted_by")


class Artifacts:
    """Artifact paths in MLflow runs: a version's training run, a day's monitoring run."""

    LINEAGE = "lineage.json"  # every input partition with its hash, the spec, category levels
    GATE = "gate.json"
    IMPORTANCE = "importance.json"
    LEARNED_SUITE = "validation/learned_suite.json"
    VALIDATION_RESULT = f"validation/{VALIDATION_RESULT}"
    VALIDATION_REPORT = f"validation/{VALIDATION_REPORT}"
    REFERENCE = "monitoring/reference.json"
    REFERENCE_SAMPLE = "monitoring/reference_sample.parquet"
    PLOTS = "plots"
    DRIFT = DRIFT_RESULT
    RETRAIN = RETRAIN_DECISION
    EVIDENTLY = "evidently"


def gate_tag(name: str) -> str:
    """``mlops.gate.<name>``: the gate's verdict on a version (decision, metric, value...)."""
    return tag(f"gate.{name}")


def rollout_tag(name: str) -> str:
    """``mlops.rollout.<name>``: a challenger's rollout (share, step, salt, since, paused)."""
    return tag(f"rollout.{name}")


def rollout_started(tags: dict[str, str]) -> bool:
    """Whether a promotion run ever started a rollout of the version with these tags."""
    return rollout_tag("salt") in tags


def rollout_running(tags: dict[str, str]) -> bool:
    """Whether the version with these tags is being rolled out now (started, not ended)."""
    return rollout_started(tags) and Tags.ROLLOUT_ENDED not in tags


def airflow_tag(name: str) -> str:
    """``mlops.airflow.<name>``: who asked for a training run (dag_id, run_id, trigger...)."""
    return tag(f"airflow.{name}")


def promotion_tag(seq: int) -> str:
    """``mlops.promotion.<seq>``: the audit copy of history record ``seq`` on a version."""
    return tag(f"promotion.{seq:06d}")
