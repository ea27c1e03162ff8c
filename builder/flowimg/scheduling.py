"""Run times of a registered flow, from the schedule dict its structure recorded."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Optional, cast

from .backend.runs import iso
from .schedules import schedule_from_dict

if TYPE_CHECKING:
    from .backend.base import Backend, FlowVersion

# How many upcoming runs registering or resuming a schedule creates (Prefect 1's scheduler made 10).
UPCOMING_RUNS = 10


def next_times(schedule: Dict[str, Any], after: datetime, n: int) -> List[datetime]:
    """The next `n` times strictly after `after` (naive means UTC), as UTC datetimes (Prefect 1 `Schedule.next`)."""
    if after.tzinfo is None:
        after = after.replace(tzinfo=timezone.utc)
    times = cast(List[datetime], schedule_from_dict(schedule).next(n, after=after))
    return [t.astimezone(timezone.utc) for t in times]


def schedule_of(version: FlowVersion) -> Optional[Dict[str, Any]]:
    """The recorded schedule, when the flow has one flowimg can compute times from."""
    schedule = version.structure.get("schedule")
    return schedule if isinstance(schedule, dict) else None


def schedule_upcoming(backend: Backend, version: FlowVersion, now: Optional[datetime] = None,
                      n: int = UPCOMING_RUNS) -> int:
    """Replace the flow's future Scheduled runs with the next `n` of this version (none without a schedule)."""
    now = now or datetime.now(timezone.utc)
    schedule = schedule_of(version)
    times = [iso(t) for t in next_times(schedule, now, n)] if schedule else []
    return backend.replace_scheduled_runs(version, times, after=iso(now))
