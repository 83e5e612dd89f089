"""One night of one model through a running stack's REST API (``make compose-smoke``): unpause
the model's DAGs, start the night as the schedule would (a one-night backfill), wait until the
runs its Asset events start are over, and fail unless every one of them succeeded."""

from __future__ import annotations

import argparse
import sys
from datetime import date

import requests

from scripts.demo import ACTIVE, KINDS, TIMEOUT, Airflow, drive, say, wait_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the Airflow API server")
    parser.add_argument("--password", required=True, help="the admin user's password")
    parser.add_argument("--model", default="flight_delay")
    parser.add_argument("--night", type=date.fromisoformat, default=date(2013, 1, 2))
    parser.add_argument("--timezone", default="America/New_York")
    args = parser.parse_args(argv)
    version = f"{args.url}/api/v2/version"
    wait_for("the Airflow API", lambda: requests.get(version, timeout=TIMEOUT).ok, 300)
    client = Airflow(args.url, args.password)
    dags = [f"{args.model}__{kind}" for kind in KINDS]

    def parsed() -> bool:
        found = client.call("GET", "/dags", params={"limit": 500})["dags"]
        return set(dags) <= {d["dag_id"] for d in found}

    wait_for(f"{args.model}'s DAGs", parsed, 300)
    for dag_id in dags:
        client.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    # the stack's lake is in its object store, not reachable from here: no verdicts read
    night = drive(client, args.model, args.timezone, args.night, limit_s=1200, lake="")

    def runs() -> list[tuple[str, dict]]:
        return [(dag_id, r) for dag_id in dags for r in client.runs(dag_id)]

    wait_for("the night's last runs", lambda: not {r["state"] for _, r in runs()} & ACTIVE, 300)
    done = runs()
    failed = [f"{dag_id} {r['dag_run_id']}" for dag_id, r in done if r["state"] != "success"]
    say(f"{args.model} {args.night}: trained {night.trained or '-'}; {len(done)} runs")
    for line in failed:
        say(f"  not successful: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
