"""Watch the demo through Airflow's REST API: wait for the stack and the queued backfills,
print progress while the scheduler works, then a table per day (run state, rows, model
version, metric) and where to log in.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

AIRFLOW = os.environ.get("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
MLFLOW = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
PASSWORDS = Path(os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", ""))
FINISHED = {"success", "failed"}
TIMEOUT = 5


def say(message: str) -> None:
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
    """A tiny client for the few REST API v2 calls the demo needs."""

    def __init__(self, base: str, password: str) -> None:
        self.base = base
        response = requests.post(
            f"{base}/auth/token",
            json={"username": "admin", "password": password},
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base}/api/v2{path}", params=params, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()

    def unpause(self, dag_id: str) -> None:
        for attempt in range(10):
            response = self.session.patch(
                f"{self.base}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=TIMEOUT
            )
            if response.ok:
                return
            time.sleep(1 + attempt)  # SQLite may be busy with another writer: try again
        raise SystemExit(f"could not unpause {dag_id}: {response.status_code} {response.text}")

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        try:
            value = self.get(path)["value"]
        except requests.HTTPError:
            return {}
        return value if isinstance(value, dict) else json.loads(value)


def training_dags(client: Airflow) -> list[str]:
    dags = client.get("/dags", tags=["training"], limit=100)["dags"]
    return sorted(d["dag_id"] for d in dags if d["dag_id"].endswith("__training"))


def runs_of(client: Airflow, dag_id: str, first: date, last: date) -> list[dict[str, Any]]:
    runs = client.get(f"/dags/{dag_id}/dagRuns", limit=100, order_by="logical_date")["dag_runs"]
    chosen = []
    for run in runs:
        if run.get("run_type") != "backfill" or not run.get("logical_date"):
            continue
        if first.isoformat() <= run["logical_date"][:10] <= last.isoformat():
            chosen.append(run)
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2013, 1, 1))
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    first, last = args.start, args.start + timedelta(days=args.days - 1)
    started = time.monotonic()

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
    say("waiting for the DAG processor to parse the model DAGs ...")
    dag_ids = wait_for("the training DAGs", lambda: training_dags(client), 300)
    for dag_id in dag_ids:
        client.unpause(dag_id)
        say(f"unpaused {dag_id}; watching its backfill {first} .. {last}")

    deadline = time.monotonic() + args.timeout
    while True:
        status = {dag_id: runs_of(client, dag_id, first, last) for dag_id in dag_ids}
        done = {d: sum(r["state"] in FINISHED for r in runs) for d, runs in status.items()}
        line = "  ".join(f"{d}: {done[d]}/{args.days}" for d in dag_ids)
        say(f"[{time.monotonic() - started:5.0f}s] finished runs  {line}")
        if all(n >= args.days for n in done.values()):
            break
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the backfills; see the Airflow UI")
        time.sleep(10)

    say("")
    say(
        f"{'model DAG':28} {'date':10} {'state':8} {'rows':>6} {'version':>7}  holdout metric, gate"
    )
    failed = 0
    for dag_id, runs in status.items():
        for run in runs:
            trained = client.xcom(dag_id, run["dag_run_id"], "train")
            ingested = client.xcom(dag_id, run["dag_run_id"], "ingest")
            metric = (
                f"{trained['metric']}={trained['value']:.3f}  {trained['gate']} "
                f"{trained['alias']}".rstrip()
                if trained
                else "(no model yet)"
            )
            say(
                f"{dag_id:28} {run['logical_date'][:10]:10} {run['state']:8} "
                f"{ingested.get('rows', '-'):>6} {trained.get('version', '-'):>7}  {metric}"
            )
            failed += run["state"] != "success"
    say("")
    say(f"done in {time.monotonic() - started:.0f}s; {failed} failed run(s)")
    say(f"Airflow UI: {AIRFLOW}  (login admin / {password})")
    say(f"MLflow UI:  {MLFLOW}")
    say(f"Models:     {AIRFLOW}/plugin/mlops-models  (Plugins > Models in the Airflow UI)")
    say("stop everything with: make down")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
