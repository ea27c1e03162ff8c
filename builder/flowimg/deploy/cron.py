"""A registered schedule as one Kubernetes CronJob schedule, or the reason it cannot be one.

Works on the stored schedule dict (`Schedule.to_dict()`), never on imported user functions.
The reference is Prefect 1: an interval clock counts from its start date (2019-01-01 UTC without
one); intervals under a day step in elapsed (UTC) time, whole days on the start date's wall
clock; a cron clock reads its string on the start date's wall clock (UTC without one), with
croniter's day-of-month OR day-of-week rule. The CronJob controller reads `spec.schedule` with
the standard five-field parser in `spec.timeZone`: no L/W/#, weekdays 0-6, and the OR rule only
when neither day field is a bare `*`/`?`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import FlowimgError
from ..schedules.cron import FIELDS, Cron, parse_cron
from ..schedules.serial import schedule_from_dict
from ..schedules.zones import UTC

DEFAULT_START = datetime(2019, 1, 1, tzinfo=UTC)
MINUTE = 60
HOUR = 3600
DAY = 86400
Fields = Tuple[str, str, str, str, str]


class NotCron(FlowimgError):
    """The schedule has a part a CronJob cannot express exactly."""

    def __init__(self, part: str) -> None:
        super().__init__(f"the flow's schedule cannot be a Kubernetes CronJob: {part}; run it with "
                         "`flowimg agent` instead, or pass --job to write a plain Job")


@dataclass(frozen=True)
class CronSpec:
    schedule: str
    time_zone: str
    parameters: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _ClockCron:
    fields: Fields
    time_zone: str
    parameters: Dict[str, Any]
    labels: Optional[List[str]]


def to_cron(schedule: Dict[str, Any], now: datetime) -> CronSpec:
    """The CronJob schedule firing exactly when the stored schedule does, from `now` on."""
    if not isinstance(schedule, dict) or schedule.get("type") != "Schedule":
        raise NotCron(f"it was registered as {str(schedule)[:60]!r}, not as a flowimg.schedules schedule")
    for key in ("filters", "or_filters", "not_filters", "adjustments"):
        rules = schedule.get(key) or []
        if rules:
            names = ", ".join(str(rule.get("fn")) for rule in rules)
            raise NotCron(f"it has {key.replace('_', '-')} ({names}), which cron has no way to express")
    clocks = [_clock_cron(clock, i, now) for i, clock in enumerate(schedule.get("clocks") or [], 1)]
    if not clocks:
        raise NotCron("it has no clocks")
    return _merge(clocks)


def _clock_cron(clock: Dict[str, Any], number: int, now: datetime) -> _ClockCron:
    kind = clock.get("type")
    name = f"clock {number} ({kind})"
    if kind == "DatesClock":
        raise NotCron(f"{name} fires on fixed dates, which cron repeats every year")
    if clock.get("end_date"):
        raise NotCron(f"{name} has an end_date, and a CronJob never stops by itself")
    start = _start_date(clock)
    if start is not None and start > now:
        raise NotCron(f"{name} starts at {start.isoformat()}, in the future, and a CronJob fires from "
                      "the moment it is applied")
    if kind == "IntervalClock":
        fields, zone = _interval_fields(timedelta(seconds=clock["interval_seconds"]), start or DEFAULT_START, name)
    elif kind == "CronClock":
        fields = _cron_fields(parse_cron(clock["cron"], clock.get("day_or", True)), name)
        zone = _zone_name(start or DEFAULT_START, name)
    else:
        raise NotCron(f"{name} is not a clock flowimg knows")
    return _ClockCron(fields, zone, dict(clock.get("parameter_defaults") or {}), clock.get("labels"))


def _start_date(clock: Dict[str, Any]) -> Optional[datetime]:
    """The clock's start date in its own zone, as the schedule itself rebuilds it."""
    if not clock.get("start_date"):
        return None
    rebuilt = schedule_from_dict({"type": "Schedule", "format": 1, "clocks": [dict(clock, end_date=None)]})
    return rebuilt.clocks[0].start_date


def _interval_fields(interval: timedelta, start: datetime, name: str) -> Tuple[Fields, str]:
    seconds = interval.total_seconds()
    if seconds < MINUTE or seconds % MINUTE:
        raise NotCron(f"{name} fires every {_every(seconds)}, and cron counts whole minutes only")
    if start.second or start.microsecond:
        raise NotCron(f"{name} starts at {start.isoformat()}, off the whole minute, and cron fires on the minute")
    if seconds < DAY:
        return _elapsed_fields(int(seconds), start.astimezone(UTC), name), "Etc/UTC"
    if seconds == DAY:
        return (str(start.minute), str(start.hour), "*", "*", "*"), _zone_name(start, name)
    if seconds == 7 * DAY:
        weekday = (start.weekday() + 1) % 7
        return (str(start.minute), str(start.hour), "*", "*", str(weekday)), _zone_name(start, name)
    raise NotCron(f"{name} fires every {_every(seconds)}; cron repeats daily or weekly, not every {_every(seconds)}")


def _elapsed_fields(seconds: int, start: datetime, name: str) -> Fields:
    """Under a day Prefect steps in UTC, so the fields are UTC ones (DST cannot shift them)."""
    if seconds < HOUR and HOUR % seconds == 0:
        return (_stepped(start.minute, seconds // MINUTE, 59), "*", "*", "*", "*")
    if seconds % HOUR == 0 and DAY % seconds == 0:
        return (str(start.minute), _stepped(start.hour, seconds // HOUR, 23), "*", "*", "*")
    raise NotCron(f"{name} fires every {_every(seconds)}, which does not divide an hour or a day evenly")


def _every(seconds: float) -> str:
    for unit, size in (("days", DAY), ("h", HOUR), ("min", MINUTE)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _stepped(first: int, step: int, high: int) -> str:
    first %= step
    if step == 1:
        return "*"
    return f"*/{step}" if first == 0 else f"{first}-{high}/{step}"


def _zone_name(start: datetime, name: str) -> str:
    """An IANA name for `spec.timeZone`; fixed whole-hour offsets become Etc/GMT zones."""
    from ..schedules.zones import zone_name

    zone = zone_name(start.tzinfo or UTC)
    if zone.upper() in ("UTC", "Z", "ETC/UTC"):
        return "Etc/UTC"
    if zone[0] in "+-":
        hours, minutes = divmod(int(start.utcoffset().total_seconds()) // 60, 60)  # type: ignore[union-attr]
        if minutes or not -12 <= hours <= 14:
            raise NotCron(f"{name} is in the fixed offset {zone}, which has no IANA time zone name")
        return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    return zone


def _cron_fields(cron: Cron, name: str) -> Fields:
    if cron.last_day or cron.nth_weekdays or cron.last_weekdays:
        raise NotCron(f"{name} '{cron.text}' uses L, W or #, which Kubernetes cron does not read")
    if not cron.day_or and not (cron.day_star or cron.weekday_star):
        raise NotCron(f"{name} '{cron.text}' has day_or=False (day-of-month AND day-of-week), "
                      "and Kubernetes cron can only OR them")
    values: Sequence[Sequence[int]] = (cron.minutes, cron.hours, sorted(cron.days), sorted(cron.months),
                                       sorted(cron.weekdays))
    minute, hour, day, month, weekday = (_list(v, spec[1], 6 if spec[0] == "day-of-week" else spec[2])
                                         for v, spec in zip(values, FIELDS))
    day = "*" if cron.day_star else _explicit(day, 1, 31)
    weekday = "*" if cron.weekday_star else _explicit(weekday, 0, 6)
    return minute, hour, day, month, weekday


def _list(values: Sequence[int], low: int, high: int) -> str:
    """Compact text for a set of values: `*`, `a-b`, `*/n`, `a-high/n` or a comma list of ranges."""
    values = sorted(set(values))
    if values == list(range(low, high + 1)):
        return "*"
    if len(values) > 2:
        step = values[1] - values[0]
        if values == list(range(values[0], high + 1, step)) and values[0] - step < low:
            return f"*/{step}" if values[0] == low else f"{values[0]}-{high}/{step}"
    runs: List[List[int]] = []
    for value in values:
        if runs and runs[-1][1] == value - 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _explicit(text: str, low: int, high: int) -> str:
    """A day field that is not a bare star must not read as one (it switches cron's OR rule)."""
    return f"{low}-{high}" if text == "*" else text


def _merge(clocks: List[_ClockCron]) -> CronSpec:
    """Several clocks reduce to one cron when they share zone, parameters and labels and differ in
    at most one field; a day field union only holds when neither side is a bare star."""
    first = clocks[0]
    for other in clocks[1:]:
        if (other.time_zone, other.parameters, other.labels) != (first.time_zone, first.parameters, first.labels):
            raise NotCron("its clocks differ in time zone, parameter defaults or labels, and one CronJob "
                          "has one of each")
    distinct = sorted({c.fields for c in clocks})
    differing = [i for i in range(5) if len({f[i] for f in distinct}) > 1]
    if len(differing) > 1:
        raise NotCron(f"its {len(clocks)} clocks fire at times no single cron line covers")
    fields = list(distinct[0])
    if differing:
        i = differing[0]
        parts = [f[i] for f in distinct]
        if "*" in parts and i in (2, 4):
            raise NotCron(f"its {len(clocks)} clocks fire at times no single cron line covers")
        fields[i] = "*" if "*" in parts else ",".join(parts)
    return CronSpec(" ".join(fields), first.time_zone, first.parameters)
