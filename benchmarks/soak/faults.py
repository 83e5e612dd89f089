"""Faults the soak injects, each on a night drawn from the seed, and what became of each.

A fault acts at one moment of its night: ``before`` the night starts (a corrupt delivery,
labels held back), ``during`` it (a process killed, a server down, a person's rollback racing
the nightly chain) or ``after`` it (the night's batch delivered again with other bytes, and
the night re-run). Each ends with an outcome: ``recovered`` (the work was done, nothing lost)
or ``failed closed`` (refused or set aside with its reason, nothing changed), or ``lost`` when
neither can be shown, which the invariants report as a violation.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from benchmarks.soak.services import StackServices, Standalone
    from scripts.demo import Airflow

BEFORE, DURING, AFTER = "before", "during", "after"
KINDS: dict[str, str] = {
    "scheduler_kill": DURING,  # the scheduler SIGKILLed, restarted 5 s later
    "task_kill": DURING,  # a running task's process SIGKILLed mid-step
    "mlflow_down_training": DURING,  # the tracking server down for a minute as a model trains
    "mlflow_down_promotion": DURING,  # ... as a promotion run decides
    "s3_down": DURING,  # the object store unreachable for 30 s (stack mode)
    "corrupt_delivery": BEFORE,  # the night's batch arrives as bytes that are not Parquet
    "labels_late": BEFORE,  # the day's labels arrive three nights late
    "duplicate_delivery": AFTER,  # the batch arrives again, other bytes; the night re-runs
    "rollback": DURING,  # a person rolls the champion back while the chain runs
}
DELIVERY_FAULTS = ("corrupt_delivery", "labels_late", "duplicate_delivery")
LATE_BY = 3  # nights
OUTAGE_S = {"mlflow_down_training": 60, "mlflow_down_promotion": 60, "s3_down": 30}
WAIT_FOR_TARGET_S = 240  # how long a ``during`` fault waits for the step it aims at


@dataclass
class Fault:
    night: date
    kind: str
    model: str
    detail: str = ""
    outcome: str = ""  # recovered: ... | failed closed: ... | lost: ...
    injected_at: float = 0.0  # seconds into the soak

    @property
    def when(self) -> str:
        return KINDS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "night": self.night.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        return cls(**{**data, "night": date.fromisoformat(data["night"])})


def plan(
    nights: list[date], count: int, kinds: list[str], models: list[str], seed: int
) -> list[Fault]:
    """``count`` faults on distinct nights (not the first five: a champion exists by then),
    the kinds in turn so that each appears once before any appears twice."""
    rng = np.random.default_rng(seed)
    eligible = nights[5:] if len(nights) > 7 else nights[1:]
    picked = rng.choice(len(eligible), min(count, len(eligible)), replace=False)
    order = [str(k) for k in rng.permutation(kinds)]
    faults = []
    for i, index in enumerate(sorted(picked)):
        kind = order[i % len(order)]
        model = models[0] if kind in DELIVERY_FAULTS else str(rng.choice(models))
        faults.append(Fault(eligible[index], kind, model))
    return faults


def parse(text: str, models: list[str], delivered: str) -> list[Fault]:
    """``kind@YYYY-MM-DD[:model],...`` (what the test and a person reproducing one use)."""
    faults = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, rest = item.partition("@")
        night, _, model = rest.partition(":")
        if kind not in KINDS:
            raise SystemExit(f"unknown fault {kind!r}; one of {', '.join(KINDS)}")
        default = delivered if kind in DELIVERY_FAULTS else models[0]
        faults.append(Fault(date.fromisoformat(night), kind, model or default))
    return faults


class Injector:
    """Carries out a ``during`` fault in a thread of its own while the night runs."""

    def __init__(self, services: Standalone | StackServices, client: Airflow, started: float):
        self.services, self.client, self.started = services, client, started

    def during(self, fault: Fault, night_runs: Callable[[], list[tuple[str, str]]]) -> Any:
        """Start the fault; returns the thread (join it when the night is over)."""
        action = getattr(self, fault.kind)
        thread = threading.Thread(target=self._guarded, args=(action, fault, night_runs))
        thread.start()
        return thread

    def _guarded(self, action: Callable[..., None], fault: Fault, night_runs: Any) -> None:
        try:
            action(fault, night_runs)
        except Exception as exc:  # the fault itself went wrong: say so, never hang the night
            fault.detail += f" (injection failed: {type(exc).__name__}: {exc})"

    def _mark(self, fault: Fault, detail: str) -> None:
        fault.injected_at = round(time.monotonic() - self.started, 1)
        fault.detail = detail

    def _running(self, night_runs: Any, dag_kind: str, task: str | None) -> dict[str, Any] | None:
        """A task instance of this night's runs that is running now (of ``dag_kind``, and
        named ``task`` when given)."""
        for dag_id, run_id in night_runs():
            if not dag_id.endswith(dag_kind) and dag_kind != "*":  # training: retraining too
                continue
            path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
            for ti in self.client.call("GET", path)["task_instances"]:
                if ti["state"] == "running" and (task is None or ti["task_id"] == task):
                    return dict(ti)
        return None

    def _wait_running(self, night_runs: Any, dag_kind: str, task: str | None) -> dict | None:
        deadline = time.monotonic() + WAIT_FOR_TARGET_S
        while time.monotonic() < deadline:
            found = self._running(night_runs, dag_kind, task)
            if found:
                return found
            time.sleep(0.5)
        return None

    def scheduler_kill(self, fault: Fault, night_runs: Any) -> None:
        ti = self._wait_running(night_runs, "*", None)
        try:
            self.services.take_down("scheduler")
            where = f"while {ti['dag_id']}.{ti['task_id']} ran" if ti else "(no task ran)"
            self._mark(fault, f"scheduler SIGKILLed {where}; restarted after 5 s")
            time.sleep(5)
        finally:
            self.services.bring_back("scheduler")

    def task_kill(self, fault: Fault, night_runs: Any) -> None:
        deadline = time.monotonic() + WAIT_FOR_TARGET_S
        while time.monotonic() < deadline:
            ti = self._wait_running(night_runs, "*", None)
            if ti is None or not ti.get("pid"):
                continue
            time.sleep(0.5)  # mid-step, not at its first line
            try:
                os.kill(int(ti["pid"]), signal.SIGKILL)
            except ProcessLookupError:  # it ended meanwhile: the next one
                continue
            self._mark(fault, f"SIGKILLed {ti['dag_id']}.{ti['task_id']} (pid {ti['pid']})")
            fault.detail += f" run {ti['dag_run_id']}"
            return
        self._mark(fault, "no running task process to kill this night")

    def _outage(self, fault: Fault, night_runs: Any, name: str, kind: str, task: str) -> None:
        ti = self._wait_running(night_runs, kind, task)
        try:
            self.services.take_down(name)
            seconds = OUTAGE_S[fault.kind]
            where = f"while {ti['dag_id']}.{task} ran" if ti else f"(no {kind} {task} ran)"
            self._mark(fault, f"{name} down for {seconds} s {where}")
            time.sleep(seconds)
        finally:
            self.services.bring_back(name)

    def mlflow_down_training(self, fault: Fault, night_runs: Any) -> None:
        self._outage(fault, night_runs, "mlflow", "training", "train")

    def mlflow_down_promotion(self, fault: Fault, night_runs: Any) -> None:
        self._outage(fault, night_runs, "mlflow", "promotion", "decide")

    def s3_down(self, fault: Fault, night_runs: Any) -> None:
        self._outage(fault, night_runs, "s3", "scoring", "score")

    def rollback(self, fault: Fault, night_runs: Any) -> None:
        self._wait_running(night_runs, "*", None)
        from mlops.builders.serving import ROLLBACK_DAG_ID

        conf = {"model": fault.model, "version": None, "reason": "soak: a person's rollback"}
        run = self.client.call(
            "POST", f"/dags/{ROLLBACK_DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf}
        )
        self._mark(
            fault, f"rollback of {fault.model} to its previous version, run {run['dag_run_id']}"
        )
