"""Validate: the gate every delivered partition passes before anything trains on or scores it.

Three entry points over one implementation (``evaluate``): ``validate_day`` is the nightly
DAG task (night D's batch and the labels that arrived with it, landing -> raw or
quarantine), ``validate_partition`` one landed partition (the quarantine review replays it),
and ``validate_file`` any file against the contract, moving nothing (the CLI's ``--input``).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipelines.core import layout
from pipelines.core.calendar import local_date
from pipelines.core.errors import PartitionMissingError
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.sources import get_source
from pipelines.validation.checks import Role
from pipelines.validation.decisions import accepted_decision
from pipelines.validation.evaluation import evaluate
from pipelines.validation.publishing import move_along, publish, write_reports
from pipelines.validation.reading import read_batch
from pipelines.validation.results import CheckResult, DayValidation, Evaluation, ValidationResult

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def dataset_of(spec: ModelSpec, role: Role) -> str:
    """The lake dataset a role of the spec's source delivers: the batch, or its labels."""
    dataset = spec.source.dataset
    return dataset if role == "batch" else layout.labels_dataset(dataset)


def validate_partition(
    lake: Lake,
    spec: ModelSpec,
    role: Role,
    day: date,
    now: datetime | None = None,
    learned: dict[str, Any] | None = None,
) -> ValidationResult:
    """Validate the landed partition of (dataset, D) and move it to raw or quarantine.

    Re-running after the landing file has moved returns the stored verdict; a new delivery
    for the same date is validated afresh (idempotent by date).
    """
    dataset = dataset_of(spec, role)
    if not lake.exists(layout.LANDING, dataset, day):
        return _stored_result(lake, spec, dataset, day)
    landing = lake.partition_path(layout.LANDING, dataset, day)
    sha = lake.sha256(landing)
    batch = read_batch(lake, landing)
    if isinstance(batch, CheckResult):
        evaluation = Evaluation(status="block", rows=0, checks=[batch])
    else:
        leakage_batch = _batch_for_leakage(lake, spec, day) if role == "labels" else None
        evaluation = evaluate(spec, batch, role, day, now, learned, leakage_batch)
    result = ValidationResult(
        model=spec.name,
        dataset=dataset,
        role=role,
        day=day,
        status=evaluation.status,
        source_uri=lake.uri(landing),
        sha256=sha,
        rows=evaluation.rows,
        checks=evaluation.checks,
        validated_at=(now or datetime.now(UTC)).isoformat(),
    )
    accepted = accepted_decision(lake, dataset, day, sha)
    readable = not any(c.engine == "reader" for c in result.failed)
    if accepted is not None and result.status != "pass" and readable:
        result = replace(result, status="warn", accepted_by=accepted.get("actor", "unknown"))
        evaluation = replace(evaluation, drop_mask=None)  # accepted as delivered: nothing drops
    return write_reports(lake, publish(lake, result, evaluation, landing))


def _batch_for_leakage(lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame | None:
    """The validated batch the labels belong to (None when it never passed validation)."""
    if not lake.exists(layout.RAW, spec.source.dataset, day):
        return None
    wanted = [spec.entity_key, *spec.features_of_type("numeric"), *spec.features_of_type("boolean")]
    path = lake.partition_path(layout.RAW, spec.source.dataset, day)
    present = [c for c in wanted if c in lake.column_names(path)]
    return lake.read_frame(path, present)


def _stored_result(lake: Lake, spec: ModelSpec, dataset: str, day: date) -> ValidationResult:
    stored = layout.validation_result(dataset, day)
    if lake.exists_path(stored):
        return ValidationResult.from_dict(lake.read_json(stored))
    uri = lake.partition_uri(layout.LANDING, dataset, day)
    raise PartitionMissingError(f"model {spec.name!r}: nothing delivered for {day} at {uri}")


def validate_day(
    lake: Lake,
    spec: ModelSpec,
    day: date,
    now: datetime | None = None,
    learned: dict[str, Any] | None = None,
) -> DayValidation:
    """Validate night D's deliveries: the batch of D, the labels of D - delay, any labels of
    earlier days that landed late (after their own night), and move the source's reference
    tables along."""
    move_along(lake, get_source(spec).context_datasets, day)
    batch = validate_partition(lake, spec, "batch", day, now, learned)
    label_day = day - timedelta(days=spec.label.arrival_delay_days)
    labels_dataset = dataset_of(spec, "labels")
    labels = None
    if lake.exists(layout.LANDING, labels_dataset, label_day) or lake.exists_path(
        layout.validation_result(labels_dataset, label_day)
    ):
        labels = validate_partition(lake, spec, "labels", label_day, now)
    waiting = [d for d in lake.list_dates(layout.LANDING, labels_dataset) if d < label_day]
    late = [validate_partition(lake, spec, "labels", d, now) for d in waiting]
    return DayValidation(batch=batch, labels=labels, late_labels=late)


def validate_file(
    spec: ModelSpec,
    uri: str,
    day: date | None,
    role: Role,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check any file (local path or ``s3://``) against the contract; nothing is moved.

    The date is ``day``, else the ``date=YYYY-MM-DD`` folder in the URI, else the date of the
    newest timestamp in the file.
    """
    folder, _, name = uri.rstrip("/").rpartition("/")
    lake = Lake(folder or ".", storage_options)
    path = lake.path(name)
    if not lake.file_exists(path):
        raise PartitionMissingError(f"{uri}: no such file")
    batch = read_batch(lake, path)
    day = day or layout.date_in(uri)
    if isinstance(batch, CheckResult):
        evaluation = Evaluation(status="block", rows=0, checks=[batch])
    else:
        day = day or _newest_day(spec, batch) or datetime.now(UTC).date()
        evaluation = evaluate(spec, batch, role, day)
    result = ValidationResult(
        model=spec.name,
        dataset=dataset_of(spec, role),
        role=role,
        day=day or datetime.now(UTC).date(),
        status=evaluation.status,
        source_uri=uri,
        sha256="",
        rows=evaluation.rows,
        rows_dropped=evaluation.rows_dropped,
        checks=evaluation.checks,
        validated_at=datetime.now(UTC).isoformat(),
    )
    failed = [asdict(c) for c in result.failed]
    return {**result.to_dict(), "checks": failed, "reasons": result.reasons()}


def _newest_day(spec: ModelSpec, table: pa.Table) -> date | None:
    """The date (in the spec's timezone) of the newest timestamp in the file."""
    import pyarrow.compute as pc

    newest = pc.max(table.column(spec.timestamp)).as_py()
    if newest is None:
        return None
    if isinstance(newest, datetime):
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        return local_date(newest, spec.schedules.timezone)
    return newest if isinstance(newest, date) else None
