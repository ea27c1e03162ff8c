"""Time zones for schedules: naive means UTC, wall-clock arithmetic across DST, zone names.

Standard library only. `zoneinfo` is imported when a zone is named, so the package still
imports on Python 3.8, where only naming a zone other than UTC fails (with a clear message).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from .errors import ScheduleError

UTC = timezone.utc
OFFSET = re.compile(r"^(?:UTC)?([+-])(\d\d):(\d\d)$")


def aware(dt: datetime) -> datetime:
    """`dt` as a plain datetime with a time zone: naive is UTC (as Prefect 1 reads it);
    pytz/pendulum zones become zoneinfo zones, whose DST arithmetic is the standard library's."""
    if not isinstance(dt, datetime):
        raise ScheduleError(f"Expected a datetime, got {dt!r}; pass a datetime.datetime")
    if type(dt) is not datetime:  # pendulum's subclass does its own (incompatible) zone maths
        dt = datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond,
                      tzinfo=dt.tzinfo, fold=dt.fold)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    zone = _standard_zone(dt.tzinfo)
    if zone is dt.tzinfo:
        return dt
    return dt.astimezone(zone)


def _standard_zone(tz: tzinfo) -> tzinfo:
    if isinstance(tz, timezone) or type(tz).__module__ == "zoneinfo":
        return tz
    name = getattr(tz, "key", None) or getattr(tz, "zone", None) or getattr(tz, "name", None)
    if isinstance(name, str):
        try:
            return zone(name)
        except ScheduleError:
            return tz
    return tz


def localize(wall: datetime, tz: tzinfo) -> datetime:
    """Give a naive wall-clock time the zone `tz`: a time skipped by a DST jump moves forward
    by the jump, a time that happens twice means its second (post-transition) occurrence."""
    first = wall.replace(tzinfo=tz)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    if _round_trips(first):
        return second
    return first.astimezone(UTC).astimezone(tz)


def _round_trips(dt: datetime) -> bool:
    back = dt.astimezone(UTC).astimezone(dt.tzinfo)
    return back.replace(tzinfo=None, fold=0) == dt.replace(tzinfo=None, fold=0) and (
        back.utcoffset() == dt.utcoffset())


def add_calendar(dt: datetime, delta: timedelta) -> datetime:
    """Add `delta` as Prefect 1's interval clock does: with whole days in it the sum is taken
    on the wall clock (a daily 9am stays 9am across DST), otherwise in elapsed time."""
    if delta.days:
        return localize(dt.replace(tzinfo=None) + delta, dt.tzinfo or UTC)
    return (dt.astimezone(UTC) + delta).astimezone(dt.tzinfo)


def zone_name(tz: tzinfo) -> str:
    """A name `zone()` turns back into the same zone: an IANA name, 'UTC' or '+05:30'."""
    if tz is UTC:
        return "UTC"
    name = getattr(tz, "key", None) or getattr(tz, "zone", None) or getattr(tz, "name", None)
    if isinstance(name, str) and name:
        return name
    offset = tz.utcoffset(None)
    if offset is None:
        raise ScheduleError(
            f"Cannot record the time zone {tz!r} of a schedule date; "
            "use a zoneinfo.ZoneInfo zone or a fixed datetime.timezone offset")
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return "%s%02d:%02d" % (sign, abs(minutes) // 60, abs(minutes) % 60)


def zone(name: str) -> tzinfo:
    """The zone called `name` ('UTC', '+05:30', or an IANA name such as 'Europe/Berlin')."""
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    match = OFFSET.match(name)
    if match:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-offset if sign == "-" else offset)
    try:
        import zoneinfo
    except ImportError:
        raise ScheduleError(
            f"Time zone {name!r} needs the zoneinfo module (Python 3.9+); "
            "run on Python 3.9 or newer, or give dates in UTC") from None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"Unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin'") from None
