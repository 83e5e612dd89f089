"""``python -m benchmarks.soak``: replay a year of nights through the live scheduler with
seeded faults, then check every invariant (docs/soak.md).

    python -m benchmarks.soak --nights 365 --seed 7 --faults 24
    python -m benchmarks.soak --nights 14 \
        --faults scheduler_kill@2013-01-06,corrupt_delivery@2013-01-09
    python -m benchmarks.soak --resume --nights 365     # the next chunk of the same replay

Each night is driven as production drives it: a one-night backfill of every model's training
DAG (what the nightly schedule would start), then whatever the scheduler starts from its Asset
events (scoring, promotion, monitoring, retraining), until every model is quiet
(scripts/demo.py's driver). Models run side by side; nights one after another.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from benchmarks.soak import invariants
from benchmarks.soak.faults import (
    AFTER,
    BEFORE,
    DELIVERY_FAULTS,
    DURING,
    KINDS,
    LATE_BY,
    Fault,
    Injector,
    parse,
    plan,
)
from benchmarks.soak.models import DELIVERED, Deliveries, Ledger, generator_spec, write_specs
from benchmarks.soak.outcomes import Outcomes
from benchmarks.soak.report import facts, print_report, say
from benchmarks.soak.services import services
from mlops.builders.serving import ROLLBACK_DAG_ID

ROOT = Path(__file__).resolve().parents[2]
KINDS_OF_DAG = ("training", "retraining", "scoring", "promotion", "monitoring")
NIGHT_LIMIT_S = 1800


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=365, help="nights of the whole replay")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2013, 1, 1))
    parser.add_argument("--seed", type=int, default=7, help="drift events and fault nights")
    parser.add_argument(
        "--faults",
        default="24",
        help="how many (spread over the kinds in turn), or kind@YYYY-MM-DD[:model],...",
    )
    parser.add_argument("--fault-kinds", default="", help="comma-separated subset of the kinds")
    parser.add_argument("--models", default=f"flight_delay,{DELIVERED}")
    parser.add_argument("--stack", action="store_true", help="the Celery stack, not standalone")
    parser.add_argument("--state", type=Path, default=ROOT / ".state" / "soak")
    parser.add_argument("--resume", action="store_true", help="continue the replay in --state")
    parser.add_argument("--chunk", type=int, default=0, help="stop after this many nights")
    parser.add_argument("--check-every", type=int, default=0, help="invariants every N nights")
    parser.add_argument("--report", type=Path, help="write the report JSON here too")
    return parser.parse_args(argv)


class Progress:
    """What survives between chunks: nights done, the faults and their outcomes, time spent."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.done: int = data.get("done", 0)
        self.wall_s: float = data.get("wall_s", 0.0)
        self.faults = [Fault.from_dict(f) for f in data.get("faults", [])]
        self.chunks: int = data.get("chunks", 0)

    @classmethod
    def load(cls, path: Path) -> Progress:
        return cls(path, json.loads(path.read_text()) if path.exists() else {})

    def save(self) -> None:
        data = {
            "done": self.done,
            "wall_s": round(self.wall_s, 1),
            "chunks": self.chunks,
            "faults": [f.to_dict() for f in self.faults],
        }
        self.path.write_text(json.dumps(data, indent=1))


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    names = [n for n in args.models.split(",") if n]
    nights = [args.start + timedelta(days=i) for i in range(args.nights)]
    state = args.state.resolve()
    if state.exists() and not args.resume and any(state.iterdir()):
        raise SystemExit(f"{state} holds an earlier soak: pass --resume, or remove it")
    state.mkdir(parents=True, exist_ok=True)
    models = state / "models"
    if not models.exists():
        write_specs(models, names, args.start, args.nights, args.seed)
    progress = Progress.load(state / "progress.json")
    if not progress.faults and progress.done == 0:
        progress.faults = _fault_plan(args, nights, names)
    todo = nights[progress.done :][: args.chunk or None]
    say(
        f"soak: {len(todo)} nights from {todo[0] if todo else '-'} (of {len(nights)}), "
        f"{len(progress.faults)} faults planned, state {state}"
    )

    live = services(state, models, args.stack)
    live.env["MLOPS_SCHEDULE_END"] = nights[-1].isoformat()
    if args.stack and progress.done == 0:
        # A new replay: the stack's databases and Redis DB outlive a state folder (its S3 is
        # in memory), and an earlier replay's runs would make every night look done.
        live.clean()
    started = time.monotonic()
    live.up()
    try:
        soak = Soak(live, names, nights, progress, state, started)
        soak.unpause()
        for night in todo:
            if (state / "STOP").exists():  # a person ends the chunk early, between nights
                say(f"{state / 'STOP'} found: this chunk ends before {night}")
                break
            soak.night(night)
            if args.check_every and progress.done % args.check_every == 0:
                soak.report(args, final=False)
        soak.backfill_missed()
        soak.quiet()
        progress.chunks += 1
        progress.wall_s += time.monotonic() - started
        progress.save()
        report = soak.report(args, final=progress.done == len(nights))
    finally:
        live.down()
    return 0 if all(i["violations"] == 0 for i in report["invariants"]) else 1


def _fault_plan(args: argparse.Namespace, nights: list[date], names: list[str]) -> list[Fault]:
    if not args.faults.isdigit():
        return parse(args.faults, names, DELIVERED)
    kinds = [k for k in (args.fault_kinds.split(",") if args.fault_kinds else KINDS) if k]
    if not args.stack:
        kinds = [k for k in kinds if k != "s3_down"]  # the standalone lake is a local folder
    if DELIVERED not in names:
        kinds = [k for k in kinds if k not in DELIVERY_FAULTS]
    usable = nights[: -(LATE_BY + 1)]  # late labels still arrive within the replay
    delivered_first = sorted(names, key=lambda n: n != DELIVERED)
    return plan(usable, int(args.faults), kinds, delivered_first, args.seed)


class Soak:
    """The replay against live services: nights, faults, outcomes, the report."""

    def __init__(
        self,
        live: Any,
        names: list[str],
        nights: list[date],
        progress: Progress,
        state: Path,
        started: float,
    ) -> None:
        from pipelines.core.spec import load_specs
        from scripts.demo import Airflow

        self.live, self.names, self.nights, self.progress = live, names, nights, progress
        self.state, self.started = state, started
        self.specs, _ = load_specs(state / "models")
        self.client = Airflow(live.airflow_url, live.admin_password)
        self.lake = live.lake()
        self.ledger = Ledger.load(state / "deliveries.json")
        self.deliveries = (
            Deliveries(self.lake, generator_spec(state / "models"), self.ledger)
            if DELIVERED in names
            else None
        )
        self.injector = Injector(live, self.client, started)
        self.outcomes = Outcomes(self.client, self.lake, self.specs, names, self._new_runs)

    @property
    def dag_ids(self) -> list[str]:
        return [f"{name}__{kind}" for name in self.names for kind in KINDS_OF_DAG]

    @property
    def watched(self) -> list[str]:
        """Every DAG the soak's nights start runs in (the models' and the rollback DAG)."""
        return [*self.dag_ids, ROLLBACK_DAG_ID]

    def unpause(self) -> None:
        wanted = set(self.watched)
        deadline = time.monotonic() + 300
        while True:
            found = {
                d["dag_id"] for d in self.client.call("GET", "/dags", params={"limit": 500})["dags"]
            }
            if wanted <= found:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"DAGs never parsed: {sorted(wanted - found)}")
            time.sleep(2)
        for dag_id in sorted(wanted):
            self.client.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    # ----------------------------------------------------------------- nights
    def night(self, day: date) -> None:
        tonight = [f for f in self.progress.faults if f.night == day]
        begun = time.monotonic()
        self._deliver(day, tonight)
        seen = self._run_ids()
        results: dict[str, Any] = {}
        threads = [threading.Thread(target=self._drive, args=(m, day, results)) for m in self.names]
        for thread in threads:
            thread.start()
        injections = [
            self.injector.during(f, lambda f=f: self._new_runs(seen, f.model))
            for f in tonight
            if f.when == DURING
        ]
        for thread in [*threads, *injections]:
            thread.join()
        for fault in tonight:
            if fault.when == AFTER:
                self._again(fault, day)
        for fault in tonight:
            if fault.kind != "labels_late":
                fault.outcome = self.outcomes.of(fault, seen)
        self.progress.done += 1
        self.progress.save()
        self._print(day, results, tonight, time.monotonic() - begun)

    def backfill_missed(self) -> None:
        """Nights that never ran (the API refused to start them) are backfilled, as a person
        would: behind the frontier by now, they must not move the present."""
        from pipelines.core import layout
        from scripts.demo import drive

        for day in self.nights[: self.progress.done]:
            for model in self.names:
                spec = self.specs[model]
                if self.lake.exists_path(layout.validation_result(spec.source.dataset, day)):
                    continue
                tz = spec.schedules.timezone
                try:
                    drive(self.client, model, tz, day, NIGHT_LIMIT_S, self.lake)
                    say(f"{day} {model}: the night never ran; backfilled")
                except (SystemExit, requests.RequestException) as failed:
                    say(f"{day} {model}: the night never ran, and its backfill failed: {failed}")

    def _deliver(self, day: date, tonight: list[Fault]) -> None:
        """The delivering system's files for ``day``, with tonight's delivery faults."""
        if self.deliveries is None:
            return
        kinds = {f.kind for f in tonight if f.when == BEFORE}
        self.deliveries.night(day, "corrupt_delivery" in kinds, LATE_BY * ("labels_late" in kinds))
        for fault in tonight:
            if fault.when == BEFORE:
                fault.detail = f"{fault.kind.replace('_', ' ')} for {day}"
                fault.injected_at = round(time.monotonic() - self.started, 1)

    def _drive(self, model: str, day: date, results: dict[str, Any]) -> None:
        """One model's night (in a thread); a night the API refused to start (SQLite busy)
        is started again, one that started and then lost the API is left to run (a second
        backfill of a date that has its run starts nothing)."""
        from scripts.demo import Airflow, drive

        client = Airflow(self.live.airflow_url, self.live.admin_password)
        tz = self.specs[model].schedules.timezone
        training = f"{model}__training"
        for attempt in range(3):
            before = {r["dag_run_id"] for r in client.runs(training)}
            try:
                results[model] = drive(client, model, tz, day, NIGHT_LIMIT_S, self.lake)
                return
            except SystemExit as stuck:  # started, never over
                results[model] = stuck
                return
            except requests.RequestException as failed:
                results[model] = failed
                if {r["dag_run_id"] for r in client.runs(training)} - before:
                    return  # the night started and runs on: starting it again would wait for ever
                say(f"{day} {model}: {failed}; starting the night again (try {attempt + 2})")
                time.sleep(30)
            except Exception as broken:  # the soak's own reading of the night: say what broke
                results[model] = broken
                return

    def _again(self, fault: Fault, day: date) -> None:
        """The batch of ``day`` delivered again with other bytes; the night re-runs."""
        from scripts.demo import drive

        if self.deliveries is None:
            raise SystemExit(f"{fault.kind} needs the {DELIVERED} model in --models")
        self.deliveries.again(day)
        fault.injected_at = round(time.monotonic() - self.started, 1)
        fault.detail = f"{day}'s batch delivered again (1% fewer rows); the night re-run"
        tz = self.specs[fault.model].schedules.timezone
        try:
            drive(self.client, fault.model, tz, day, NIGHT_LIMIT_S, self.lake, again=True)
        except SystemExit as stuck:
            fault.detail += f"; the re-run did not end: {stuck}"

    def _run_ids(self) -> set[tuple[str, str]]:
        return {(d, r["dag_run_id"]) for d in self.watched for r in self.client.runs(d)}

    def _new_runs(self, seen: set[tuple[str, str]], model: str) -> list[tuple[str, str]]:
        """Runs of ``model``'s DAGs started since ``seen`` (newest first)."""
        dags = [f"{model}__{kind}" for kind in KINDS_OF_DAG]
        return [
            (d, r["dag_run_id"])
            for d in dags
            for r in self.client.runs(d)
            if (d, r["dag_run_id"]) not in seen
        ]

    def _print(
        self, day: date, results: dict[str, Any], tonight: list[Fault], seconds: float
    ) -> None:
        parts = []
        for model in self.names:
            night = results.get(model)
            if isinstance(night, BaseException) or night is None:
                parts.append(f"{model}: NOT OVER ({night})")
                continue
            trained = "; ".join(night.trained) or "-"
            parts.append(
                f"{model}: {trained} | serving {night.serving} | {night.decision} | "
                f"{night.drift} | retrain {night.retrain}"
            )
        say(f"{day} {seconds:4.0f}s  " + "  //  ".join(parts))
        for fault in tonight:
            say(
                f"    fault {fault.kind} ({fault.model}): {fault.detail} "
                f"-> {fault.outcome or 'pending'}"
            )

    def quiet(self, limit_s: float = 600) -> None:
        """Until no run is queued or running (the last nights' reports finish)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            busy = [
                d
                for d in self.watched
                for r in self.client.runs(d)
                if r["state"] in ("queued", "running")
            ]
            if not busy:
                return
            time.sleep(5)

    # ----------------------------------------------------------------- report
    def report(self, args: argparse.Namespace, final: bool) -> dict[str, Any]:
        from pipelines.core.registry import Registry
        from pipelines.serving.history import read_history

        done = self.nights[: self.progress.done]
        for fault in self.progress.faults:
            if fault.kind == "labels_late" and fault.night in done:
                fault.outcome = self.outcomes.late_labels(fault, done)
        registry = Registry(self.live.mlflow_url)
        checks = []
        for name in self.names:
            spec = self.specs[name]
            records = read_history(self.lake, name)
            checks += [
                invariants.rows_accounted(
                    self.lake, spec, done, self.ledger if name == DELIVERED else None
                ),
                invariants.one_version_per_date(registry, spec),
                invariants.scored_once(
                    self.lake, spec, records, invariants.all_runs(self.client, f"{name}__scoring")
                ),
                invariants.history_consistent(registry, spec, records),
                invariants.retrains_within_guardrails(
                    self.lake, spec, done, invariants.all_runs(self.client, f"{name}__retraining")
                ),
            ]
        faults = [f for f in self.progress.faults if f.night in done]
        checks += [
            invariants.runs_settled(self.client, self.watched, faults),
            invariants.faults_accounted(faults),
        ]
        runs = self.client.call("GET", "/dags/~/dagRuns", params={"limit": 1})["total_entries"]
        tasks = self.client.call("GET", "/dags/~/dagRuns/~/taskInstances", params={"limit": 1})[
            "total_entries"
        ]
        report = {
            **facts(),
            "topology": "stack (Celery, PostgreSQL, Redis, S3)"
            if args.stack
            else "airflow standalone",
            "seed": args.seed,
            "nights": len(done),
            "of": len(self.nights),
            "chunks": self.progress.chunks,
            "wall_s": round(
                self.progress.wall_s + (0 if final else time.monotonic() - self.started), 1
            ),
            "runs": runs,
            "task_instances": tasks,
            "faults": [f.to_dict() for f in faults],
            "invariants": [c.to_dict() for c in checks],
        }
        (self.state / "report.json").write_text(json.dumps(report, indent=1, default=str))
        if args.report:
            args.report.write_text(json.dumps(report, indent=1, default=str))
        print_report(report)
        return report


if __name__ == "__main__":
    sys.exit(main())
