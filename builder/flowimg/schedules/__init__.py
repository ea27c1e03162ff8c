"""Prefect 1 compatible schedules: `from flowimg.schedules import IntervalSchedule` etc."""
from __future__ import annotations

from . import adjustments, clocks, filters
from .errors import ScheduleError
from .schedules import CronSchedule, IntervalSchedule, Schedule
from .serial import schedule_from_dict

__all__ = ["CronSchedule", "IntervalSchedule", "Schedule", "ScheduleError", "adjustments",
           "clocks", "filters", "schedule_from_dict"]
