"""Schedule adjustments: functions that move an event that passed the filters."""
from __future__ import annotations

from datetime import datetime, timedelta

from .errors import ScheduleError
from .filters import is_weekday
from .rules import Rule
from .zones import UTC, add_calendar, aware


def add(interval: timedelta) -> Rule:
    """Move events later by `interval` of elapsed time."""
    if not isinstance(interval, timedelta):
        raise ScheduleError(f"add() needs a datetime.timedelta, got {interval!r}")
    return Rule("add", (interval,), _add)


def _add(dt: datetime, interval: timedelta) -> datetime:
    dt = aware(dt)
    return (dt.astimezone(UTC) + interval).astimezone(dt.tzinfo)


def next_weekday(dt: datetime) -> datetime:
    """Move a Saturday or Sunday event to the Monday after, at the same wall-clock time."""
    dt = aware(dt)
    while not is_weekday(dt):
        dt = add_calendar(dt, timedelta(days=1))
    return dt
