"""Clocks emit candidate run times (events) for a schedule; Prefect 1's clock semantics."""
from __future__ import annotations

from datetime import datetime, timedelta

from .cron import parse_cron
from .errors import ScheduleError
from .zones import UTC, add_calendar, aware, localize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional

# Where an interval clock without a start date counts from, as in Prefect 1.
DEFAULT_START = datetime(2019, 1, 1, tzinfo=UTC)
# A cron clock gives up after this many candidate times that DST turned into repeats.
MAX_SKIPS = 1000


class ClockEvent:
    """One emitted time plus the parameter defaults and labels of the clock that emitted it.

    Compares with other events and with plain datetimes by its start time, as Prefect's does.
    """

    __slots__ = ("start_time", "parameter_defaults", "labels")

    def __init__(self, start_time: datetime, parameter_defaults: Optional[dict] = None,
                 labels: Optional[List[str]] = None) -> None:
        self.start_time = start_time
        self.parameter_defaults = parameter_defaults or {}
        self.labels = labels

    def _key(self, other: Any) -> datetime:
        if isinstance(other, ClockEvent):
            return other.start_time
        if isinstance(other, datetime):
            return other
        raise TypeError(f"cannot compare a ClockEvent with {type(other).__name__}")

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, datetime):
            return self.start_time == other
        if not isinstance(other, ClockEvent):
            return False
        return (self.start_time, self.parameter_defaults, self.labels) == (
            other.start_time, other.parameter_defaults, other.labels)

    def __lt__(self, other: Any) -> bool:
        return self.start_time < self._key(other)

    def __gt__(self, other: Any) -> bool:
        return self.start_time > self._key(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ClockEvent {self.start_time.isoformat()} labels={self.labels} " \
               f"parameters={self.parameter_defaults}>"


class Clock:
    """Base clock: optional start and end dates, parameter defaults and labels for its runs."""

    kind = "Clock"

    def __init__(self, start_date: Optional[datetime] = None, end_date: Optional[datetime] = None,
                 parameter_defaults: Optional[Dict[str, Any]] = None,
                 labels: Optional[List[str]] = None) -> None:
        self.start_date = None if start_date is None else aware(start_date)
        self.end_date = None if end_date is None else aware(end_date)
        self.parameter_defaults = dict(parameter_defaults or {})
        self.labels = None if labels is None else list(labels)

    def events(self, after: Optional[datetime] = None) -> Iterator[ClockEvent]:
        raise NotImplementedError("Clock subclasses emit events")

    def _event(self, start_time: datetime) -> ClockEvent:
        return ClockEvent(start_time, self.parameter_defaults, self.labels)

    def _past_end(self, when: datetime) -> bool:
        return self.end_date is not None and when > self.end_date


class IntervalClock(Clock):
    """Fires every `interval` counted from `start_date` (default 2019-01-01 UTC), in the
    start date's zone: whole-day steps keep the wall-clock time across DST."""

    kind = "IntervalClock"

    def __init__(self, interval: timedelta, start_date: Optional[datetime] = None,
                 end_date: Optional[datetime] = None,
                 parameter_defaults: Optional[Dict[str, Any]] = None,
                 labels: Optional[List[str]] = None) -> None:
        if not isinstance(interval, timedelta):
            raise ScheduleError(
                f"Interval must be a datetime.timedelta, got {interval!r}; "
                "e.g. interval=timedelta(hours=1)")
        if interval <= timedelta(0):
            raise ScheduleError(
                f"Interval must be greater than 0, got {interval}; "
                "e.g. interval=timedelta(minutes=10)")
        self.interval = interval
        super().__init__(start_date, end_date, parameter_defaults, labels)

    def events(self, after: Optional[datetime] = None) -> Iterator[ClockEvent]:
        after = datetime.now(UTC) if after is None else aware(after)
        start = self.start_date or DEFAULT_START
        # Jump straight to the first interval past `after` instead of walking from the start.
        steps = (after - start) / self.interval
        count = 0 if steps < 0 else int(steps) + 1
        while True:
            when = add_calendar(start, self.interval * count)
            count += 1
            if when < after:
                continue
            if self._past_end(when):
                return
            yield self._event(when)


class CronClock(Clock):
    """Fires when the cron string matches the wall clock of the start date's zone (UTC
    without one). As in Prefect 1.4.1, a time DST repeats fires once, at its second
    occurrence, and a time DST skips fires shifted forward by the jump."""

    kind = "CronClock"

    def __init__(self, cron: str, start_date: Optional[datetime] = None,
                 end_date: Optional[datetime] = None,
                 parameter_defaults: Optional[Dict[str, Any]] = None,
                 labels: Optional[List[str]] = None, day_or: Optional[bool] = None) -> None:
        self.day_or = True if day_or is None else bool(day_or)
        self.parsed = parse_cron(cron, self.day_or)
        self.cron = cron
        super().__init__(start_date, end_date, parameter_defaults, labels)

    def events(self, after: Optional[datetime] = None) -> Iterator[ClockEvent]:
        tz = self.start_date.tzinfo if self.start_date is not None else UTC
        after = datetime.now(tz) if after is None else aware(after).astimezone(tz)
        if self.start_date is not None and after < self.start_date - timedelta(seconds=1):
            after = self.start_date - timedelta(seconds=1)
        if after.microsecond:
            after = after.replace(microsecond=0) + timedelta(seconds=1)
        wall = after.replace(tzinfo=None)
        last = after
        skips = 0
        while skips < MAX_SKIPS:
            found = self.parsed.next_after(wall)
            if found is None:
                return
            wall = found
            when = localize(wall, tz or UTC)
            if when <= last:
                skips += 1
                continue
            if self._past_end(when):
                return
            skips = 0
            last = when
            yield self._event(when)


class DatesClock(Clock):
    """Fires once on each of the given dates."""

    kind = "DatesClock"

    def __init__(self, dates: List[datetime], parameter_defaults: Optional[Dict[str, Any]] = None,
                 labels: Optional[List[str]] = None) -> None:
        if not dates:
            raise ScheduleError("DatesClock needs at least one date; pass dates=[datetime(...)]")
        self.dates = sorted(aware(d) for d in dates)
        super().__init__(self.dates[0], self.dates[-1], parameter_defaults, labels)

    def events(self, after: Optional[datetime] = None) -> Iterator[ClockEvent]:
        after = datetime.now(UTC) if after is None else aware(after)
        return (self._event(d) for d in self.dates if d > after)


class RRuleClock(Clock):
    """Fires on the times of a dateutil `rrule` or `rruleset` (iCal recurrence rules), after
    `start_date` when one is given. dateutil is the caller's import: this module needs none."""

    kind = "RRuleClock"

    def __init__(self, rrule_obj: Any, start_date: Optional[datetime] = None,
                 end_date: Optional[datetime] = None,
                 parameter_defaults: Optional[Dict[str, Any]] = None,
                 labels: Optional[List[str]] = None) -> None:
        if not callable(getattr(rrule_obj, "xafter", None)):
            raise TypeError(f"rrule_obj must be an rrule or rruleset, got: {rrule_obj!r}")
        self.rrule_obj = rrule_obj
        super().__init__(start_date, end_date, parameter_defaults, labels)

    def events(self, after: Optional[datetime] = None) -> Iterator[ClockEvent]:
        inclusive = after is None
        after = datetime.now(UTC) if after is None else aware(after)
        if self.start_date is not None and after < self.start_date:
            after, inclusive = self.start_date, True
        # The rule's own times may be naive or aware; compare like with like, as dateutil must.
        first = next(iter(self.rrule_obj), None)
        if first is not None and first.tzinfo is None:
            after = after.astimezone(UTC).replace(tzinfo=None)
        for when in self.rrule_obj.xafter(after, inc=inclusive):
            when = aware(when)
            if self._past_end(when):
                return
            yield self._event(when)
