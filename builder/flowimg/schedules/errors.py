"""The error bad schedule input raises."""
from __future__ import annotations

from ..errors import FlowimgError


class ScheduleError(FlowimgError, ValueError):
    """A bad schedule argument; also a ValueError, which is what Prefect 1 scripts catch."""
