"""Day boundaries, owned here: a partition day D of a model is D in the model's timezone
(``schedules.timezone``), from its midnight to the next.

Everything that asks "when does D start or end" asks this module: the validation window of
D's timestamps, the moment a nightly run decides (the end of D), the time stamped on history
records, and the partition a run processes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def is_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA timezone this machine knows (``UTC``, ``Europe/Paris``)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def day_start(day: date, timezone: str) -> datetime:
    """Midnight at the start of ``day`` in ``timezone`` (aware)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone))


def day_end(day: date, timezone: str) -> datetime:
    """The moment ``day`` is over: midnight after it in ``timezone`` (aware)."""
    return day_start(day + timedelta(days=1), timezone)


def utc_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of ``day`` in ``timezone``, as UTC instants."""
    return day_start(day, timezone).astimezone(UTC), day_end(day, timezone).astimezone(UTC)


def local_time(moment: datetime, timezone: str) -> datetime:
    """An aware ``moment`` as the wall-clock time of ``timezone``."""
    return moment.astimezone(ZoneInfo(timezone))


def local_date(moment: datetime, timezone: str) -> date:
    """The calendar date of an aware ``moment`` in ``timezone``."""
    return local_time(moment, timezone).date()


def day_ending_at(moment: datetime, timezone: str) -> date:
    """The day that ``moment`` ends (midnight closes the day before it) or falls in."""
    return local_date(moment - timedelta(microseconds=1), timezone)


def days_between(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last``, both included (empty when last < first)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
