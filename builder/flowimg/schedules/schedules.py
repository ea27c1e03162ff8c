"""Schedule: clocks propose times, filters pick some, adjustments move them (Prefect 1)."""
from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from .clocks import Clock, ClockEvent, CronClock, IntervalClock
from .errors import ScheduleError

Filter = Callable[[datetime], bool]
Adjustment = Callable[[datetime], datetime]
# next() stops after looking at this many clock events, however few passed the filters.
MAX_EVENTS = 10000


class Schedule:
    """Run times from one or more clocks. An event is kept when every `filters` entry, at least
    one `or_filters` entry (if any) and no `not_filters` entry accepts it; each kept event then
    goes through `adjustments` in order."""

    def __init__(self, clocks: Sequence[Clock], filters: Optional[List[Filter]] = None,
                 or_filters: Optional[List[Filter]] = None,
                 not_filters: Optional[List[Filter]] = None,
                 adjustments: Optional[List[Adjustment]] = None) -> None:
        if isinstance(clocks, Clock):
            clocks = [clocks]
        if not clocks or not all(isinstance(c, Clock) for c in clocks):
            raise ScheduleError(
                "A schedule needs at least one clock; pass clocks=[IntervalClock(...)] or "
                "[CronClock(...)] from flowimg.schedules.clocks")
        self.clocks = list(clocks)
        self.filters = list(filters or [])
        self.or_filters = list(or_filters or [])
        self.not_filters = list(not_filters or [])
        self.adjustments = list(adjustments or [])

    @property
    def start_date(self) -> Optional[datetime]:
        return min((c.start_date for c in self.clocks if c.start_date), default=None)

    @property
    def end_date(self) -> Optional[datetime]:
        return max((c.end_date for c in self.clocks if c.end_date), default=None)

    def next(self, n: int, after: Optional[datetime] = None,
             return_events: bool = False) -> List[Union[datetime, ClockEvent]]:
        """The next `n` run times after `after` (default now), as time-zone-aware datetimes
        or, with `return_events`, as ClockEvents that carry parameter defaults and labels."""
        found: List[Union[datetime, ClockEvent]] = []
        if n <= 0:
            return found
        for seen, event in enumerate(self._events(after), 1):
            if self._keeps(event.start_time):
                event.start_time = self._adjust(event.start_time)
                found.append(event if return_events else event.start_time)
            if len(found) == n or seen >= MAX_EVENTS:
                break
        return found

    def _events(self, after: Optional[datetime]) -> Iterator[ClockEvent]:
        merged = heapq.merge(*(clock.events(after=after) for clock in self.clocks))
        # Two clocks firing the same event at the same time give one run.
        return (next(same) for _, same in groupby(merged))

    def _keeps(self, dt: datetime) -> bool:
        return (all(f(dt) for f in self.filters)
                and (not self.or_filters or any(f(dt) for f in self.or_filters))
                and not any(f(dt) for f in self.not_filters))

    def _adjust(self, dt: datetime) -> datetime:
        for adjust in self.adjustments:
            dt = adjust(dt)
        return dt

    def to_dict(self) -> Dict[str, Any]:
        """A plain JSON-able description, stable for registration metadata and hashing."""
        from .serial import schedule_to_dict

        return schedule_to_dict(self)

    def __repr__(self) -> str:
        return f"<Schedule clocks={[c.kind for c in self.clocks]}>"


def IntervalSchedule(start_date: Optional[datetime] = None,
                     interval: Optional[timedelta] = None,
                     end_date: Optional[datetime] = None) -> Schedule:
    """A schedule with one IntervalClock (Prefect 1's argument order: start_date first)."""
    if interval is None:
        raise ScheduleError("IntervalSchedule needs an interval; e.g. "
                            "IntervalSchedule(interval=timedelta(hours=1))")
    return Schedule(clocks=[IntervalClock(interval, start_date=start_date, end_date=end_date)])


def CronSchedule(cron: str, start_date: Optional[datetime] = None,
                 end_date: Optional[datetime] = None, day_or: Optional[bool] = None) -> Schedule:
    """A schedule with one CronClock."""
    return Schedule(clocks=[CronClock(cron, start_date=start_date, end_date=end_date,
                                      day_or=day_or)])
