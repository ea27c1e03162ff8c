"""Run times of a registered flow, from the schedule dict its structure recorded."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Optional, cast

from .backend.runs import SCHEDULED, iso
from .errors import FlowimgError
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


def _scheduled_flow(backend: Backend, project: str, flow: str) -> FlowVersion:
    version = backend.get(project, flow)
    if schedule_of(version) is None:
        raise FlowimgError(f"flow '{flow}' in project '{project}' has no schedule; give it one "
                           f"(Flow('{flow}', schedule=IntervalSchedule(...))) and register it again")
    return version


def pause(backend: Backend, project: str, flow: str) -> int:
    """Turn the schedule off as Prefect 1 did: its upcoming runs go; returns how many."""
    version = _scheduled_flow(backend, project, flow)
    now = iso(datetime.now(timezone.utc))
    backend.set_schedule_active(project, flow, False)
    upcoming = [r for r in backend.list_runs(project=project, flow=flow, state=SCHEDULED, limit=2 ** 31 - 1)
                if (r.scheduled_time or "") > now]
    backend.replace_scheduled_runs(version, [], after=now)
    return len(upcoming)


def resume(backend: Backend, project: str, flow: str) -> int:
    """Turn the schedule on again: the next runs of the latest version are created; returns how many."""
    version = _scheduled_flow(backend, project, flow)
    backend.set_schedule_active(project, flow, True)
    return schedule_upcoming(backend, version)
