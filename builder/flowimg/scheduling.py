"""Run times of a registered flow, from the schedule dict its structure recorded."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, cast

from .schedules import schedule_from_dict


def next_times(schedule: Dict[str, Any], after: datetime, n: int) -> List[datetime]:
    """The next `n` times strictly after `after`, as UTC datetimes (Prefect 1 `Schedule.next`)."""
    if after.tzinfo is None:
        after = after.replace(tzinfo=timezone.utc)
    times = cast(List[datetime], schedule_from_dict(schedule).next(n, after=after))
    return [t.astimezone(timezone.utc) for t in times]
