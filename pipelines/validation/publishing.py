"""Where a judged delivery goes, and the notes that say why.

- pass / warn: the file moves, byte for byte, to ``raw/<dataset>/date=D`` (the clean lake);
- drop_rows: the passing rows are published to ``raw``; the failing rows, each with its reason
  codes, go to ``quarantine/<dataset>/date=D/dropped.parquet``;
- block: the file moves intact to ``quarantine/<dataset>/date=D/part-0.parquet`` with its
  validation result and a readable REASON.txt. The clean lake never holds it.
A later delivery of a date with different bytes replaces its clean partition only when it
passes; the partition it replaces is kept under ``superseded/<dataset>/date=D/``.
Every verdict is written to ``validation/<dataset>/date=D/result.json`` with ``report.html``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date

from pipelines.core import layout
from pipelines.core.errors import PipelineError
from pipelines.core.storage import Lake
from pipelines.validation.html_report import render_html
from pipelines.validation.results import Evaluation, ValidationResult

log = logging.getLogger(__name__)


def publish(
    lake: Lake, result: ValidationResult, evaluation: Evaluation, landing: str
) -> ValidationResult:
    """Move the landed file (internal path ``landing``) by the verdict; returns where it went."""
    dataset, day = result.dataset, result.day
    raw_path = lake.partition_path(layout.RAW, dataset, day)
    folder = layout.quarantine_folder(dataset, day)
    if result.status == "block":
        target = lake.path(f"{folder}/{layout.PART_FILE}")
        lake.delete(lake.path(f"{folder}/{layout.DROPPED_FILE}"))
        lake.move(landing, target)
        result = replace(result, quarantine_uri=lake.uri(target))
        _write_quarantine_notes(lake, result)
        log.warning("quarantined %s", result.summary())
        return result
    result = replace(result, superseded_uri=_supersede(lake, result))
    if evaluation.drop_mask is not None and evaluation.frame is not None:
        result = _publish_with_drops(lake, result, evaluation)
        lake.delete(landing)
        return result
    lake.move(landing, raw_path)
    return replace(result, published_uri=lake.uri(raw_path))


def _supersede(lake: Lake, result: ValidationResult) -> str:
    """Keep the clean partition a re-delivery with other bytes replaces, named by its own
    hash (its URI; '' when there is none or it holds these very bytes)."""
    raw_path = lake.partition_path(layout.RAW, result.dataset, result.day)
    if not lake.exists(layout.RAW, result.dataset, result.day):
        return ""
    earlier = lake.sha256(raw_path)
    if earlier == result.sha256:
        return ""
    target = lake.path(layout.superseded_file(result.dataset, result.day, earlier))
    lake.move(raw_path, target)
    log.warning(
        "%s %s: a new delivery (sha256 %s...) replaces the partition validated before "
        "(%s...), kept at %s",
        result.dataset,
        result.day,
        result.sha256[:12],
        earlier[:12],
        lake.uri(target),
    )
    return lake.uri(target)


def _publish_with_drops(
    lake: Lake, result: ValidationResult, evaluation: Evaluation
) -> ValidationResult:
    frame, mask = evaluation.frame, evaluation.drop_mask
    if frame is None or mask is None:
        raise PipelineError("internal: rows to drop without the frame they come from")
    keep = lake.write_partition(frame[~mask], layout.RAW, result.dataset, result.day)
    dropped = frame[mask].copy()
    dropped[layout.REASONS_COLUMN] = evaluation.drop_reasons
    folder = layout.quarantine_folder(result.dataset, result.day)
    target = lake.path(f"{folder}/{layout.DROPPED_FILE}")
    lake.write_file(dropped, target)
    result = replace(
        result,
        rows_dropped=int(mask.sum()),
        published_uri=keep.uri,
        quarantine_uri=lake.uri(target),
    )
    _write_quarantine_notes(lake, result)
    log.warning("dropped rows %s", result.summary())
    return result


def _write_quarantine_notes(lake: Lake, result: ValidationResult) -> None:
    folder = layout.quarantine_folder(result.dataset, result.day)
    verdict, reason = layout.QUARANTINE_NOTES
    lake.write_json(result.to_dict(), f"{folder}/{verdict}")
    what = "whole batch set aside" if result.status == "block" else "failing rows set aside"
    text = (
        f"{result.summary()}\n\n{what}. Review it with the mlops__quarantine_review DAG "
        f"(dataset={result.dataset}, date={result.day}): revalidate after a fix, accept, "
        "or discard.\n"
    )
    lake.write_bytes(text.encode(), f"{folder}/{reason}")


def write_reports(lake: Lake, result: ValidationResult) -> ValidationResult:
    """The verdict as ``result.json`` and ``report.html``; returns it with the report's URI."""
    report = layout.validation_report(result.dataset, result.day)
    result = replace(result, report_uri=lake.write_bytes(render_html(result).encode(), report))
    lake.write_json(result.to_dict(), layout.validation_result(result.dataset, result.day))
    return result


def move_along(lake: Lake, datasets: tuple[str, ...], day: date) -> None:
    """Reference tables that ride along with a delivery unchecked: landing -> raw."""
    for dataset in datasets:
        if lake.exists(layout.LANDING, dataset, day):
            landing = lake.partition_path(layout.LANDING, dataset, day)
            lake.move(landing, lake.partition_path(layout.RAW, dataset, day))
