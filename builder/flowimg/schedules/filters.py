"""Schedule filters: functions of a candidate datetime that say whether to keep it.

Each factory returns a Rule so that a schedule serialises by filter name and arguments.
Times of day, weekdays and dates are read in the event's own time zone.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from .rules import Rule
from .zones import aware


def on_datetime(dt: datetime) -> Rule:
    """Keep only the event at exactly `dt` (naive means UTC)."""
    return Rule("on_datetime", (aware(dt),), _equal)


def _equal(candidate: datetime, dt: datetime) -> bool:
    return candidate == dt


def between_datetimes(start: datetime, end: datetime) -> Rule:
    """Keep events from `start` to `end`, both included (naive means UTC)."""
    return Rule("between_datetimes", (aware(start), aware(end)), _between_datetimes)


def _between_datetimes(candidate: datetime, start: datetime, end: datetime) -> bool:
    return start <= candidate <= end


def on_date(month: int, day: int) -> Rule:
    """Keep events on this month and day of any year."""
    return Rule("on_date", (month, day), _on_date)


def _on_date(candidate: datetime, month: int, day: int) -> bool:
    return (candidate.month, candidate.day) == (month, day)


def between_dates(start_month: int, start_day: int, end_month: int, end_day: int) -> Rule:
    """Keep events between two calendar dates of any year, both included; a start after the
    end wraps over New Year (10, 15, 3, 31 is mid-October to March)."""
    return Rule("between_dates", (start_month, start_day, end_month, end_day), _between_dates)


def _between_dates(candidate: datetime, start_month: int, start_day: int, end_month: int,
                   end_day: int) -> bool:
    day, start, end = (candidate.month, candidate.day), (start_month, start_day), (end_month,
                                                                                     end_day)
    if start_month <= end_month:
        return start <= day <= end
    return day >= start or day <= end


def at_time(t: time) -> Rule:
    """Keep events at exactly this time of day."""
    return Rule("at_time", (t,), _at_time)


def _at_time(candidate: datetime, t: time) -> bool:
    return candidate.time() == t


def between_times(start: time, end: time) -> Rule:
    """Keep events between two times of day, both included; a start after the end wraps
    over midnight."""
    return Rule("between_times", (start, end), _between_times)


def _between_times(candidate: datetime, start: time, end: time) -> bool:
    now = candidate.time()
    if start <= end:
        return start <= now <= end
    return now >= start or now <= end


def is_day_of_week(day_of_week: int) -> Rule:
    """Keep events on one weekday, counted as datetime.weekday() does (Monday = 0)."""
    return Rule("is_day_of_week", (day_of_week,), _is_day_of_week)


def _is_day_of_week(candidate: datetime, day_of_week: int) -> bool:
    return candidate.weekday() == day_of_week


def is_weekday(dt: datetime) -> bool:
    """Keep Monday to Friday."""
    return dt.weekday() < 5


def is_weekend(dt: datetime) -> bool:
    """Keep Saturday and Sunday."""
    return dt.weekday() > 4


def is_month_end(dt: datetime) -> bool:
    """Keep the last day of each month."""
    return (dt + timedelta(days=1)).month != dt.month


def is_month_start(dt: datetime) -> bool:
    """Keep the first day of each month."""
    return dt.day == 1
