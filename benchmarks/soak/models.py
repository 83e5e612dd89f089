"""The soak's models and the deliveries it makes for them.

``flight_delay`` is the shipped spec (its source lands 2013's flights itself). ``synthetic_demand``
is the shipped spec delivered by another system: a ``lake`` source whose files the soak writes
from the synthetic generator, so that a delivery can arrive corrupt, twice with different bytes
or with its labels days late. Its drift events span the whole replay (drawn from the seed):
covariate shifts that monitoring sees and retrains answer, short concept drifts that turn a
rollout's live evidence against the challenger. Both retry a failed task after 10 s (doubling),
so an outage of a minute is outlived.

The ledger (``deliveries.json`` in the state folder) is what the soak delivered, per dataset and
date: the row accounting checks the lake against it, across chunks of one replay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from pipelines.core.layout import LANDING, labels_dataset, partition_file

if TYPE_CHECKING:
    from pipelines.core.spec import ModelSpec
    from pipelines.core.storage import Lake

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "models"
DELIVERED = "synthetic_demand"  # the model whose files the soak lands
RETRIES = {"count": 3, "delay_seconds": 10, "max_delay_minutes": 2}


def year_of_drift(start: date, nights: int, seed: int) -> list[dict[str, Any]]:
    """The shipped January scenario, then every five to eight weeks a covariate shift of a few
    columns for two to five weeks, with two days of concept drift inside it."""
    rng = np.random.default_rng(seed)
    shipped = yaml.safe_load((SHIPPED / f"{DELIVERED}.yaml").read_text())
    events: list[dict[str, Any]] = list(shipped["source"]["options"]["drift"])
    numeric = [f"num_{j}" for j in range(8)]
    day = start + timedelta(days=int(rng.integers(35, 57)))
    while day < start + timedelta(days=nights):
        length = int(rng.integers(14, 36))
        events.append(
            {
                "kind": "covariate_shift",
                "start": day,
                "end": day + timedelta(days=length),
                "columns": sorted(
                    rng.choice(numeric, int(rng.integers(2, 5)), replace=False).tolist()
                ),
                "magnitude": round(float(rng.uniform(1.5, 2.5)), 1),
            }
        )
        concept = day + timedelta(days=int(rng.integers(6, 13)))
        events.append(
            {"kind": "concept_drift", "start": concept, "end": concept + timedelta(days=1)}
        )
        day += timedelta(days=int(rng.integers(35, 57)))
    return events


def write_specs(folder: Path, names: list[str], start: date, nights: int, seed: int) -> Path:
    """The soak's spec files in ``folder`` (the models directory Airflow reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        data = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())
        data["retries"] = RETRIES
        if name == DELIVERED:
            data["source"] = {"kind": "lake", "dataset": data["source"]["dataset"]}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    generator = yaml.safe_load((SHIPPED / f"{DELIVERED}.yaml").read_text())
    generator["source"]["options"]["drift"] = year_of_drift(start, nights, seed)
    source = folder.parent / "generator"  # the spec's file name must be the model's name
    source.mkdir(exist_ok=True)
    (source / f"{DELIVERED}.yaml").write_text(yaml.safe_dump(generator, sort_keys=False))
    return folder


def generator_spec(folder: Path) -> ModelSpec:
    """``synthetic_demand`` as the delivering system sees it: the synthetic source itself."""
    from pipelines.core.spec import load_spec

    return load_spec(folder.parent / "generator" / f"{DELIVERED}.yaml")


@dataclass
class Ledger:
    """What was delivered: ``{dataset: {date: [{"rows", "sha256", "corrupt"}, ...]}}``, and
    labels held back (label date -> the night they arrive)."""

    path: Path
    delivered: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        return cls(path, data["delivered"], data["held"])

    def save(self) -> None:
        self.path.write_text(json.dumps({"delivered": self.delivered, "held": self.held}))

    def add(self, dataset: str, day: date, rows: int, sha256: str, corrupt: bool = False) -> None:
        entry = {"rows": rows, "sha256": sha256, "corrupt": corrupt}
        self.delivered.setdefault(dataset, {}).setdefault(day.isoformat(), []).append(entry)
        self.save()


class Deliveries:
    """The delivering system of ``synthetic_demand``: on night D the batch of D and the labels
    of D - 1, written to the lake's landing zone."""

    def __init__(self, lake: Lake, generator: ModelSpec, ledger: Ledger) -> None:
        self.lake, self.spec, self.ledger = lake, generator, ledger
        self.batch = generator.source.dataset
        self.labels = labels_dataset(self.batch)

    def night(self, day: date, corrupt: bool = False, labels_late_by: int = 0) -> None:
        """Land night ``day``'s files: the batch (garbage bytes when ``corrupt``), the labels
        of the day before (held for ``labels_late_by`` nights), and labels held until now."""
        frames = self._frames(day)
        if corrupt:
            self._land_corrupt(day, rows=len(frames[self.batch]))
        else:
            self._land(self.batch, day, frames[self.batch])
        label_day = day - timedelta(days=self.spec.label.arrival_delay_days)
        if labels_late_by:
            self.ledger.held[label_day.isoformat()] = (day + timedelta(labels_late_by)).isoformat()
            self.ledger.save()
        else:
            self._land(self.labels, label_day, frames[self.labels])
        for held, arrives in sorted(self.ledger.held.items()):
            if arrives <= day.isoformat():
                earlier = date.fromisoformat(held)
                late = self._frames(earlier + timedelta(self.spec.label.arrival_delay_days))
                self._land(self.labels, earlier, late[self.labels])
                del self.ledger.held[held]
                self.ledger.save()

    def again(self, day: date) -> None:
        """The batch of ``day`` delivered a second time with other bytes (the sender's
        correction: its last 1% of rows withdrawn)."""
        batch = self._frames(day)[self.batch]
        self._land(self.batch, day, batch.iloc[: len(batch) * 99 // 100])

    def _frames(self, day: date) -> dict[str, Any]:
        from pipelines.sources.synthetic import SyntheticSource

        return SyntheticSource().deliver(self.spec, day)

    def _land(self, dataset: str, day: date, frame: Any) -> None:
        written = self.lake.write_partition(frame, LANDING, dataset, day)
        self.ledger.add(dataset, day, written.rows, written.sha256)

    def _land_corrupt(self, day: date, rows: int) -> None:
        """A truncated upload: the right name, bytes that are not Parquet."""
        data = b"PAR1" + np.random.default_rng(day.toordinal()).bytes(4096)
        self.lake.write_bytes(data, partition_file(LANDING, self.batch, day))
        path = self.lake.partition_path(LANDING, self.batch, day)
        self.ledger.add(self.batch, day, rows, self.lake.sha256(path), corrupt=True)
