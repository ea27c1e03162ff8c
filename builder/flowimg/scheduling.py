"""Run times of a registered flow, from the schedule dict its structure recorded."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, cast

from .backend.runs import SCHEDULED, iso
from .errors import FlowimgError
from .schedules import schedule_from_dict
from .schedules.clocks import ClockEvent

if TYPE_CHECKING:
    from .backend.base import Backend, FlowVersion

# How many upcoming runs registering or resuming a schedule creates (Prefect 1's scheduler made 10).
UPCOMING_RUNS = 10


@dataclass(frozen=True)
class Slot:
    """One scheduled run: its time (stored text) and what its clock gives it (Prefect 1 clock events)."""

    time: str
    parameters: Dict[str, Any]
    labels: Optional[List[str]]  # the clock's labels replace the flow's for this run; None keeps them


def next_times(schedule: Dict[str, Any], after: datetime, n: int) -> List[datetime]:
    """The next `n` times strictly after `after` (naive means UTC), as UTC datetimes (Prefect 1 `Schedule.next`)."""
    return [event.start_time.astimezone(timezone.utc) for event in _events(schedule, after, n)]


def next_slots(schedule: Dict[str, Any], after: datetime, n: int) -> List[Slot]:
    return [Slot(iso(e.start_time), dict(e.parameter_defaults), None if e.labels is None else sorted(set(e.labels)))
            for e in _events(schedule, after, n)]


def slots_at(schedule: Optional[Dict[str, Any]], times: Sequence[str], after: datetime) -> List[Slot]:
    """Slots for given times, with what the schedule's clocks give each; a time it does not produce gets nothing."""
    made = {slot.time: slot for slot in next_slots(schedule, after, len(times))} if schedule and times else {}
    return [made.get(when) or Slot(when, {}, None) for when in times]


def _events(schedule: Dict[str, Any], after: datetime, n: int) -> List[ClockEvent]:
    if after.tzinfo is None:
        after = after.replace(tzinfo=timezone.utc)
    return cast(List[ClockEvent], schedule_from_dict(schedule).next(n, after=after, return_events=True))


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
