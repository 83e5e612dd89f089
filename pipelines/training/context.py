"""Who asked for a training run, recorded on the MLflow run and version: the Airflow ids from
a task or a pod, the run type, and the changes and reason a person gave in the retrain form."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from pipelines import __version__
from pipelines.core.layout import Tags, airflow_tag


@dataclass(frozen=True)
class RunContext:
    """Who asked for the run: Airflow ids from a task, or nothing from the CLI."""

    dag_id: str = ""
    run_id: str = ""
    try_number: int = 0
    trigger: str = ""  # the Airflow run type: scheduled, backfill, manual, asset_triggered
    overrides: str = ""  # JSON of the training fields a person changed for this run
    reason: str = ""  # why a person asked for this run
    code_version: str = __version__

    def actor(self) -> str:
        """Who decided, for the registry's audit tags."""
        return f"airflow:{self.dag_id}/{self.run_id}" if self.dag_id else "cli"

    def tags(self) -> dict[str, str]:
        return {airflow_tag(k): str(v) for k, v in asdict(self).items() if v}


def overrides_key(overrides: dict[str, Any] | None) -> str:
    """Overrides as canonical JSON: the same change gives the same tag wherever it runs."""
    return json.dumps(overrides, sort_keys=True, separators=(",", ":")) if overrides else ""


def run_type_name(value: object) -> str:
    """A run type as its plain name (``scheduled``), from Airflow's enum or its text (a pod
    reads it from ``AIRFLOW_CTX_DAG_RUN_TYPE``)."""
    text = str(getattr(value, "value", value) or "")
    return text.removeprefix("DagRunType.").lower()


@dataclass(frozen=True)
class Backfill:
    """A run for a date behind the model's frontier (the newest date with a promotion decision):
    it judges against the champion that served at the end of that date (None: no champion yet
    then) and never moves live aliases. Decided by the caller from the promotion history."""

    frontier: date
    champion: str | None

    def tags(self) -> dict[str, str]:
        return {Tags.BEHIND_FRONTIER: self.frontier.isoformat()}
