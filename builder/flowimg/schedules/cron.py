"""Cron expressions: parse the five fields and find the next wall-clock time that matches.

Works on naive wall-clock datetimes; time zones are the clock's business (see zones.py).
Accepts what croniter (Prefect 1's parser) accepts in five-field strings: `*`, `?`, numbers,
ranges, steps, lists, month and weekday names, `L` (last day of month), `W#n` (n-th weekday of
the month), `LW` (last given weekday of the month) and the `@hourly`-style aliases.
"""
from __future__ import annotations

from bisect import bisect_left
from datetime import date, datetime, timedelta

from .errors import ScheduleError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, FrozenSet, Optional, Tuple

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = {name: i for i, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
WEEKDAYS = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (field name, lowest, highest, names)
FIELDS: Tuple[Tuple[str, int, int, Dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, WEEKDAYS),
)
# A match more than this far ahead means the expression never fires (e.g. "0 0 30 2 *").
HORIZON_YEARS = 28
HINT = ("use five fields: minute hour day-of-month month day-of-week, "
        "e.g. '0 9 * * MON-FRI' or '*/15 * * * *'")


class Cron:
    """A parsed cron expression; weekdays count from Sunday = 0 as cron does."""

    def __init__(self, text: str, minutes: Tuple[int, ...], hours: Tuple[int, ...],
                 days: FrozenSet[int], last_day: bool, months: FrozenSet[int],
                 weekdays: FrozenSet[int], nth_weekdays: FrozenSet[Tuple[int, int]],
                 last_weekdays: FrozenSet[int], day_star: bool, weekday_star: bool,
                 day_or: bool) -> None:
        self.text = text
        self.minutes = minutes
        self.hours = hours
        self.days = days
        self.last_day = last_day
        self.months = months
        self.weekdays = weekdays
        self.nth_weekdays = nth_weekdays
        self.last_weekdays = last_weekdays
        self.day_star = day_star
        self.weekday_star = weekday_star
        self.day_or = day_or

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        month_days = _days_in_month(day)
        by_day = day.day in self.days or (self.last_day and day.day == month_days)
        weekday = (day.weekday() + 1) % 7
        by_weekday = (
            weekday in self.weekdays
            or (weekday, (day.day - 1) // 7 + 1) in self.nth_weekdays
            or (weekday in self.last_weekdays
                and day.day + 7 > month_days))
        if self.day_star:
            return by_weekday
        if self.weekday_star:
            return by_day
        return (by_day or by_weekday) if self.day_or else (by_day and by_weekday)

    def next_after(self, after: datetime) -> Optional[datetime]:
        """The first matching naive time strictly after `after`, or None within the horizon."""
        start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day, first = start.date(), (start.hour, start.minute)
        limit = date(min(start.year + HORIZON_YEARS, 9999), 1, 1)
        while day < limit:
            if day.month not in self.months:
                day = _first_of_next_month(day)
                first = (0, 0)
                continue
            if self.matches_day(day):
                hit = self._first_time_from(first)
                if hit is not None:
                    return datetime(day.year, day.month, day.day, *hit)
            day += timedelta(days=1)
            first = (0, 0)
        return None

    def _first_time_from(self, hour_minute: Tuple[int, int]) -> Optional[Tuple[int, int]]:
        hour, minute = hour_minute
        i = bisect_left(self.hours, hour)
        if i < len(self.hours) and self.hours[i] == hour:
            j = bisect_left(self.minutes, minute)
            if j < len(self.minutes):
                return hour, self.minutes[j]
            i += 1
        if i < len(self.hours):
            return self.hours[i], self.minutes[0]
        return None


def _first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _days_in_month(day: date) -> int:
    return (_first_of_next_month(day) - timedelta(days=1)).day


def parse_cron(text: str, day_or: bool = True) -> Cron:
    """Parse a cron string, raising ScheduleError that names the bad part and the fix."""
    if not isinstance(text, str):
        raise ScheduleError(f"Invalid cron string {text!r}: expected text; {HINT}")
    expanded = ALIASES.get(text.strip().lower(), text)
    parts = expanded.split()
    if len(parts) != 5:
        raise ScheduleError(
            f"Invalid cron string {text!r}: it has {len(parts)} fields; {HINT}")
    try:
        minutes, hours, days, months, weekdays = (
            _parse_field(part, *spec) for part, spec in zip(parts, FIELDS))
    except ValueError as exc:
        raise ScheduleError(f"Invalid cron string {text!r}: {exc}; {HINT}") from None
    cron = Cron(
        text=text,
        minutes=tuple(sorted(minutes.values)),
        hours=tuple(sorted(hours.values)),
        days=frozenset(days.values),
        last_day=days.last,
        months=frozenset(months.values),
        weekdays=frozenset(v % 7 for v in weekdays.values),
        nth_weekdays=frozenset((w % 7, n) for w, n in weekdays.nth),
        last_weekdays=frozenset(w % 7 for w in weekdays.last_of),
        day_star=days.star,
        weekday_star=weekdays.star,
        day_or=bool(day_or),
    )
    if cron.next_after(datetime(2000, 1, 1)) is None:
        raise ScheduleError(
            f"Invalid cron string {text!r}: no date ever matches it; "
            "check the day-of-month and month fields (e.g. there is no 30 February)")
    return cron


class _Field:
    """One parsed field: plain values plus the L / # / Ln forms."""

    def __init__(self, star: bool) -> None:
        self.values: set = set()
        self.star = star
        self.last = False
        self.nth: tuple = ()
        self.last_of: tuple = ()


def _parse_field(text: str, name: str, low: int, high: int, names: dict) -> _Field:
    field = _Field(star=text in ("*", "?"))
    for item in text.lower().split(","):
        if name == "day-of-month" and item == "l":
            field.last = True
        elif name == "day-of-week" and "#" in item:
            weekday, _, nth = item.partition("#")
            n = _number(nth, name)
            if not 1 <= n <= 5:
                raise ValueError(f"{name} '{item}': the week number after '#' must be 1-5")
            field.nth += ((_value(weekday, name, low, high, names), n),)
        elif name == "day-of-week" and item.startswith("l") and len(item) > 1:
            field.last_of += (_value(item[1:], name, low, high, names),)
        else:
            field.values.update(_parse_item(item, name, low, high, names))
    return field


def _parse_item(item: str, name: str, low: int, high: int, names: dict) -> range:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        step = _number(step_text, name)
        if step < 1:
            raise ValueError(f"{name} '{item}': the step must be at least 1")
    if base in ("*", "?"):
        first, last = low, high
    elif "-" in base:
        first_text, _, last_text = base.partition("-")
        first = _value(first_text, name, low, high, names)
        last = _value(last_text, name, low, high, names)
        if first > last:
            raise ValueError(f"{name} range '{base}' runs backwards; write it low-high")
    else:
        first = _value(base, name, low, high, names)
        last = high if slash else first
    return range(first, last + 1, step)


def _value(text: str, name: str, low: int, high: int, names: dict) -> int:
    if text in names:
        return int(names[text])
    value = _number(text, name)
    if not low <= value <= high:
        raise ValueError(f"{name} value {value} is outside {low}-{high}")
    return value


def _number(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{name} field has '{text}', which is not a number or a name")
    return int(text)
