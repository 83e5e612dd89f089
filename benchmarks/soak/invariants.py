"""What must hold after any number of nights, whatever went wrong in them.

Each check reads the lake, the MLflow registry and Airflow's REST API (never the soak's own
bookkeeping, except the delivery ledger for what was sent) and returns an ``Invariant``: how
many things it checked and each violation found, in words.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from pipelines.core import layout
from pipelines.core.calendar import day_end
from pipelines.core.layout import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    Tags,
    labels_dataset,
    rollout_started,
)

if TYPE_CHECKING:
    from benchmarks.soak.faults import Fault
    from benchmarks.soak.models import Ledger
    from pipelines.core.registry import Registry
    from pipelines.core.spec import ModelSpec
    from pipelines.core.storage import Lake
    from pipelines.serving.state import Record
    from scripts.demo import Airflow

MAX_LISTED = 10  # violations printed per invariant (all are counted)


@dataclass
class Invariant:
    name: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        shown = self.violations[:MAX_LISTED]
        return {
            "name": self.name,
            "checked": self.checked,
            "violations": len(self.violations),
            "examples": shown,
        }


# -------------------------------------------------------------------- rows
def rows_accounted(
    lake: Lake, spec: ModelSpec, nights: list[date], ledger: Ledger | None
) -> Invariant:
    """Every delivered row of the model's batch and labels is in ``raw`` (or was dropped to
    quarantine with its reasons), or its whole batch is in quarantine with a REASON."""
    check = Invariant(f"rows accounted ({spec.name})")
    for dataset, day, expected in _deliveries(spec, nights, ledger):
        check.checked += 1
        where = f"{dataset} {day}"
        if expected["corrupt"] or _blocked(lake, dataset, day):
            if lake.exists(layout.RAW, dataset, day) and expected["corrupt"]:
                check.violations.append(f"{where}: a corrupt delivery reached raw")
            elif not lake.exists_path(f"{layout.quarantine_folder(dataset, day)}/REASON.txt"):
                check.violations.append(f"{where}: not in raw, and no quarantine REASON")
            continue
        if lake.exists(layout.LANDING, dataset, day):
            check.violations.append(f"{where}: still in landing, never validated")
            continue
        raw = _rows(lake, lake.partition_path(layout.RAW, dataset, day))
        dropped = _rows(
            lake, lake.path(f"{layout.quarantine_folder(dataset, day)}/dropped.parquet")
        )
        if raw + dropped != expected["rows"]:
            check.violations.append(
                f"{where}: delivered {expected['rows']} rows, raw {raw} + dropped {dropped}"
            )
        if expected.get("replaced") and not lake.list_paths(
            f"{layout.SUPERSEDED}/{dataset}/{layout.DATE_KEY}{day}"
        ):
            check.violations.append(f"{where}: delivered twice, the first is not in superseded/")
    return check


def _deliveries(
    spec: ModelSpec, nights: list[date], ledger: Ledger | None
) -> list[tuple[str, date, dict[str, Any]]]:
    """(dataset, day, the last delivery's facts) for the model's batch and labels."""
    batch, labels = spec.source.dataset, labels_dataset(spec.source.dataset)
    if ledger is not None and spec.source.kind == "lake":
        found = []
        for dataset in (batch, labels):
            for day, sent in sorted(ledger.delivered.get(dataset, {}).items()):
                found.append(
                    (dataset, date.fromisoformat(day), {**sent[-1], "replaced": len(sent) > 1})
                )
        return found
    from pipelines.sources import get_source

    source, found = get_source(spec), []
    for night in nights:
        frames = source.deliver(spec, night)
        found.append((batch, night, {"rows": len(frames[batch]), "corrupt": False}))
        if labels in frames:
            label_day = night - timedelta(days=spec.label.arrival_delay_days)
            found.append((labels, label_day, {"rows": len(frames[labels]), "corrupt": False}))
    return found


def _blocked(lake: Lake, dataset: str, day: date) -> bool:
    return lake.file_exists(
        lake.path(f"{layout.quarantine_folder(dataset, day)}/{layout.PART_FILE}")
    )


def _rows(lake: Lake, path: str) -> int:
    return lake.row_count(path) if lake.file_exists(path) else 0


# ---------------------------------------------------------------- registry
def one_version_per_date(registry: Registry, spec: ModelSpec) -> Invariant:
    """No (model, training date) has two registered versions (a person's overrides aside)."""
    check = Invariant(f"one version per date ({spec.name})")
    keys = Counter(
        (v.tags.get(Tags.LOGICAL_DATE), v.tags.get(Tags.OVERRIDES, ""))
        for v in registry.versions(spec.name)
    )
    check.checked = sum(keys.values())
    for (day, overrides), count in sorted(keys.items(), key=str):
        if count > 1:
            check.violations.append(
                f"{day}{' ' + overrides if overrides else ''}: {count} versions"
            )
    return check


# ----------------------------------------------------------------- scoring
def scored_once(
    lake: Lake, spec: ModelSpec, records: list[Record], scoring_runs: list[dict[str, Any]]
) -> Invariant:
    """Every clean date from the first champion on is scored, by as many successful runs as
    it had clean deliveries (one, or one per re-delivery); every row names the version that
    the history says served that day."""
    from pipelines.serving.state import state_at

    check = Invariant(f"scored exactly once, by the version serving ({spec.name})")
    tz = spec.schedules.timezone
    runs = Counter(r.get("partition_key") for r in scoring_runs if r["state"] == "success")
    champions = {r.champion for r in records if r.champion}
    first = records[0].at if records else None
    for day in lake.list_dates(layout.FEATURES, spec.name):
        check.checked += 1
        served = state_at(records, spec.name, day_end(day, tz))
        if not lake.exists(layout.PREDICTIONS, spec.name, day):
            if first is not None and day_end(day, tz) > first:
                check.violations.append(
                    f"{day}: clean and served by v{served.champion}, not scored"
                )
            continue
        deliveries = 1 + len(
            lake.list_paths(f"{layout.SUPERSEDED}/{spec.source.dataset}/{layout.DATE_KEY}{day}")
        )
        predicted = lake.read_partition(
            layout.PREDICTIONS, spec.name, day, ["model_version", "model_alias"]
        )
        aliases = set(predicted["model_alias"].astype(str))
        count = runs.get(day.isoformat(), 0)
        if layout.CATCH_UP not in aliases and not 1 <= count <= deliveries:
            check.violations.append(
                f"{day}: {count} successful scoring runs for {deliveries} deliveries"
            )
        for (version, alias), rows in predicted.astype(str).value_counts().items():
            want = {
                CHAMPION: {served.champion},
                CHALLENGER: {served.rollout.version if served.rollout else None},
                layout.CATCH_UP: champions,
            }.get(str(alias))
            if want is not None and str(version) not in want:
                check.violations.append(
                    f"{day}: {rows} rows of v{version} as {alias}, "
                    f"the history says {sorted(map(str, want))}"
                )
    return check


# ----------------------------------------------------------------- history
def history_consistent(registry: Registry, spec: ModelSpec, records: list[Record]) -> Invariant:
    """Record times never decrease; every version serving at a record's time was trained for
    a day over by then; the aliases say what the last record says."""
    check = Invariant(f"history consistent ({spec.name})")
    trained = {str(v.version): v.tags.get(Tags.LOGICAL_DATE) for v in registry.versions(spec.name)}
    tz = spec.schedules.timezone
    for before, after in pairwise(records):
        check.checked += 1
        if after.at < before.at:
            check.violations.append(
                f"record {after.seq} at {after.at} is before record {before.seq}"
            )
    for record in records:
        for version in filter(None, (record.champion, record.challenger)):
            check.checked += 1
            day = trained.get(version)
            if day is None:
                check.violations.append(f"record {record.seq}: v{version} is not registered")
            elif day_end(date.fromisoformat(day), tz) > record.at:
                check.violations.append(
                    f"record {record.seq} at {record.at}: v{version} trained for {day}, "
                    "a day not over yet"
                )
    if records:
        last = records[-1]
        wanted = (
            (CHAMPION, last.champion),
            (CHALLENGER, last.challenger),
            (PREVIOUS, last.previous),
        )
        for alias, want in wanted:
            check.checked += 1
            found = registry.alias_version(spec.name, alias)
            got = str(found.version) if found is not None else None
            if got != want and not (alias == CHALLENGER and want is None and _waits(found)):
                check.violations.append(f"alias {alias} is v{got}, the history says v{want}")
    return check


def _waits(version: Any) -> bool:
    """A challenger alias the history does not know yet: a version that passed the gate and
    waits for its rollout to start (training's, never started), or one whose ended."""
    tags = (version.tags or {}) if version is not None else {}
    return tags.get(Tags.DECISION) == CHALLENGER and (
        not rollout_started(tags) or Tags.ROLLOUT_ENDED in tags
    )


# ---------------------------------------------------------------- retrains
def retrains_within_guardrails(
    lake: Lake, spec: ModelSpec, nights: list[date], retraining_runs: list[dict[str, Any]]
) -> Invariant:
    """Requests are at least the cooldown apart, at most ``max_per_week`` in any 7 days, and
    each starts at most one retraining run that succeeds."""
    check = Invariant(f"retrain requests within guardrails ({spec.name})")
    rules = spec.retraining
    asked = []
    for day in nights:
        path = layout.retrain_decision(spec.name, day)
        if lake.exists_path(path):
            check.checked += 1
            if lake.read_json(path).get("retrain"):
                asked.append(day)
    for i, day in enumerate(asked):
        if i and (day - asked[i - 1]).days * 24 < rules.cooldown_hours:
            check.violations.append(f"{day}: requested {day - asked[i - 1]} after {asked[i - 1]}")
        week = [d for d in asked[:i] if (day - d).days < 7]
        if len(week) >= rules.max_per_week:
            check.violations.append(f"{day}: request {len(week) + 1} within 7 days")
    succeeded = Counter(r.get("partition_key") for r in retraining_runs if r["state"] == "success")
    for key, count in succeeded.items():
        if count > 1:
            check.violations.append(f"{key}: {count} successful retraining runs")
    return check


# ------------------------------------------------------------------ Airflow
def runs_settled(client: Airflow, dag_ids: list[str], faults: list[Fault]) -> Invariant:
    """No run is left queued or running, and every failed run is one a fault explains."""
    check = Invariant("no run left running; failures explained by a fault")
    explained = defaultdict(set)
    for fault in faults:
        explained[fault.night].add(fault.kind)
    for dag_id in dag_ids:
        for run in all_runs(client, dag_id):
            check.checked += 1
            if run["state"] in ("queued", "running"):
                check.violations.append(f"{dag_id} {run['dag_run_id']}: {run['state']}")
            elif run["state"] == "failed" and not _explained(run, explained):
                check.violations.append(
                    f"{dag_id} {run['dag_run_id']}: failed, no fault that night"
                )
    return check


def _explained(run: dict[str, Any], explained: dict[date, set[str]]) -> bool:
    key = run.get("partition_key") or (run.get("logical_date") or "")[:10]
    try:
        night = date.fromisoformat(key)
    except ValueError:
        return bool(explained)  # a run of no night (a person's rollback): any fault may
    return any(explained.get(night + timedelta(days=d)) for d in (0, 1))


def all_runs(client: Airflow, dag_id: str) -> list[dict[str, Any]]:
    """Every run of a DAG (paged)."""
    found: list[dict[str, Any]] = []
    while True:
        page = client.call(
            "GET",
            f"/dags/{dag_id}/dagRuns",
            params={"limit": 1000, "offset": len(found), "order_by": "id"},
        )
        found.extend(page["dag_runs"])
        if len(found) >= page["total_entries"] or not page["dag_runs"]:
            return found


def faults_accounted(faults: list[Fault]) -> Invariant:
    """Every fault injected was recovered from, or failed closed with a reason."""
    check = Invariant("faults recovered or failed closed", checked=len(faults))
    for fault in faults:
        if not fault.outcome.startswith(("recovered", "failed closed")):
            check.violations.append(
                f"{fault.night} {fault.kind} ({fault.model}): {fault.outcome or 'no outcome'}"
            )
    return check
