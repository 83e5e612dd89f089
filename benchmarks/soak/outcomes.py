"""What became of each fault: recovered (the work was done) or failed closed (refused or
set aside with its reason), read from Airflow's REST API and the lake; anything else is
``lost: ...``, which the invariants report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

from benchmarks.soak.faults import LATE_BY, Fault
from mlops.builders.serving import ROLLBACK_DAG_ID
from pipelines.core import layout

if TYPE_CHECKING:
    from pipelines.core.spec import ModelSpec
    from pipelines.core.storage import Lake
    from scripts.demo import Airflow

Runs = Callable[[set[tuple[str, str]], str], list[tuple[str, str]]]


class Outcomes:
    """Judges faults after their night."""

    def __init__(
        self,
        client: Airflow,
        lake: Lake,
        specs: dict[str, ModelSpec],
        names: list[str],
        new_runs: Runs,
    ) -> None:
        self.client, self.lake, self.specs, self.names = client, lake, specs, names
        self.new_runs = new_runs

    def of(self, fault: Fault, seen: set[tuple[str, str]]) -> str:
        """What became of a fault of the night just over (``seen``: the runs before it)."""
        if "injection failed" in fault.detail:
            return f"lost: {fault.detail}"
        if fault.kind == "corrupt_delivery":
            dataset = self.specs[fault.model].source.dataset
            reason = f"{layout.quarantine_folder(dataset, fault.night)}/REASON.txt"
            if self.lake.exists_path(reason):
                lines = self.lake.read_bytes(reason).decode().splitlines()
                return f"failed closed: quarantined: {' '.join(lines[:2])[:200]}"
            return "lost: no quarantine REASON for the corrupt batch"
        if fault.kind == "duplicate_delivery":
            dataset = self.specs[fault.model].source.dataset
            kept = self.lake.list_paths(
                f"{layout.SUPERSEDED}/{dataset}/{layout.DATE_KEY}{fault.night}"
            )
            if kept and self.lake.exists(layout.RAW, dataset, fault.night):
                return "recovered: the new delivery is in raw, the first kept in superseded/"
            return "lost: the re-delivery did not replace the first"
        if fault.kind == "rollback":
            return self._rollback_outcome(fault)
        if fault.kind == "task_kill" and " run " in fault.detail:
            return self._killed_task_outcome(fault)
        models = self.names if fault.kind == "scheduler_kill" else [fault.model]
        failed = [
            (dag, run)
            for model in models
            for dag, run in self.new_runs(seen, model)
            if self._run_state(dag, run) == "failed"
        ]
        if not failed:
            return "recovered: every run of the night succeeded"
        return "failed closed: " + "; ".join(
            f"{dag} {self._failed_tasks(dag, run)}" for dag, run in failed
        )

    def _run_state(self, dag: str, run: str) -> str:
        return str(self.client.call("GET", f"/dags/{dag}/dagRuns/{run}")["state"])

    def _failed_tasks(self, dag: str, run: str) -> str:
        tis = self.client.call("GET", f"/dags/{dag}/dagRuns/{run}/taskInstances")["task_instances"]
        return ", ".join(
            f"{t['task_id']} failed after {t['try_number']} tries"
            for t in tis
            if t["state"] == "failed"
        )

    def _killed_task_outcome(self, fault: Fault) -> str:
        words = fault.detail.split()
        dag, task = words[1].rsplit(".", 1)
        run = words[-1]
        ti = self.client.call("GET", f"/dags/{dag}/dagRuns/{run}/taskInstances/{task}")
        if ti["state"] in ("success", "skipped") and ti["try_number"] >= 2:
            return f"recovered: retried, try {ti['try_number']} ended {ti['state']}"
        if ti["state"] == "failed":
            return f"failed closed: {task} failed after {ti['try_number']} tries"
        return f"lost: {task} is {ti['state']} after try {ti['try_number']}"

    def _rollback_outcome(self, fault: Fault) -> str:
        run = fault.detail.rsplit(" ", 1)[-1]
        deadline = time.monotonic() + 300
        while (state := self._run_state(ROLLBACK_DAG_ID, run)) not in ("success", "failed"):
            if time.monotonic() > deadline:
                return f"lost: the rollback run is still {state}"
            time.sleep(2)
        if state == "success":
            done = self.client.xcom(ROLLBACK_DAG_ID, run, "rollback")
            moved = f"v{done.get('from_version')} -> v{done.get('champion')}"
            return f"recovered: applied, champion {moved}"
        log = self.client.call(
            "GET",
            f"/dags/{ROLLBACK_DAG_ID}/dagRuns/{run}/taskInstances/rollback/logs/1",
            params={"full_content": "true"},
        )
        text = json.dumps(log.get("content", ""))
        reason = next(
            (w for w in ("PromotionError", "ConcurrentPromotionError", "no previous") if w in text),
            "",
        )
        return f"failed closed: refused ({reason or 'see the run log'})"

    def late_labels(self, fault: Fault, done: list[date]) -> str:
        """Whether held-back labels were validated once they came ('' before they come)."""
        spec = self.specs[fault.model]
        label_day = fault.night - timedelta(days=spec.label.arrival_delay_days)
        arrives = fault.night + timedelta(days=LATE_BY)
        if arrives > done[-1]:
            return ""
        dataset = layout.labels_dataset(spec.source.dataset)
        if self.lake.exists(layout.RAW, dataset, label_day):
            return f"recovered: the labels of {label_day} arrived on {arrives} and were validated"
        return f"lost: the labels of {label_day} arrived on {arrives} and are not in raw"
