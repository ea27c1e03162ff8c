"""Registered schedules as CronJob schedules, against Prefect 1 semantics.

Prefect 1: an interval clock counts from its start date (2019-01-01 UTC without one); intervals under a
day step in elapsed UTC time, whole days on the start date's wall clock (DST kept); a cron clock reads its
string on the start date's wall clock (UTC without one) and ORs day-of-month with day-of-week unless one
of them is `*`. Every translation is also checked by firing the produced cron line in the produced zone
and comparing the next runs with the schedule's own.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from flowimg.deploy.cron import CronSpec, NotCron, to_cron
from flowimg.schedules import CronSchedule, IntervalSchedule, Schedule, adjustments, clocks, filters
from flowimg.schedules.zones import zone

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
# Just before Europe's spring DST change (2026-03-29), off the minute so no run ties with it.
NOW = datetime(2026, 3, 20, 0, 0, 7, tzinfo=UTC)

EXPRESSIBLE = [
    ("every 15 minutes from the default start", IntervalSchedule(interval=timedelta(minutes=15)),
     CronSpec("*/15 * * * *", "Etc/UTC")),
    ("every 20 minutes keeps the start's minute", IntervalSchedule(
        start_date=datetime(2026, 1, 1, 9, 5, tzinfo=BERLIN), interval=timedelta(minutes=20)),
     CronSpec("5-59/20 * * * *", "Etc/UTC")),
    ("hourly in a half-hour zone steps in UTC", IntervalSchedule(
        start_date=datetime(2026, 1, 1, 10, 45, tzinfo=KOLKATA), interval=timedelta(hours=1)),
     CronSpec("15 * * * *", "Etc/UTC")),
    ("every 6 hours from a fixed offset", IntervalSchedule(
        start_date=datetime(2025, 1, 1, 2, 30, tzinfo=timezone(timedelta(hours=5))), interval=timedelta(hours=6)),
     CronSpec("30 3-23/6 * * *", "Etc/UTC")),
    ("daily keeps the wall clock across DST", IntervalSchedule(
        start_date=datetime(2026, 1, 1, 9, 5, tzinfo=BERLIN), interval=timedelta(days=1)),
     CronSpec("5 9 * * *", "Europe/Berlin")),
    ("weekly from 2019-01-01, a Tuesday", IntervalSchedule(interval=timedelta(weeks=1)),
     CronSpec("0 0 * * 2", "Etc/UTC")),
    ("daily at a fixed whole-hour offset", IntervalSchedule(
        start_date=datetime(2026, 1, 1, 6, 0, tzinfo=timezone(timedelta(hours=2))), interval=timedelta(days=1)),
     CronSpec("0 6 * * *", "Etc/GMT-2")),
    ("an alias", CronSchedule("@hourly"), CronSpec("0 * * * *", "Etc/UTC")),
    ("names, Sunday as 7, OR of day fields, the start's zone",
     CronSchedule("*/5 1-7 1,15 * 7", start_date=datetime(2026, 1, 1, tzinfo=NEW_YORK)),
     CronSpec("*/5 1-7 1,15 * 0", "America/New_York")),
    ("weekday names", CronSchedule("0 9 * * MON-FRI"), CronSpec("0 9 * * 1-5", "Etc/UTC")),
    ("a full but non-star weekday field stays non-star", CronSchedule("0 12 */1 * 1-7"),
     CronSpec("0 12 1-31 * 0-6", "Etc/UTC")),
    ("day_or=False with a star day field", CronSchedule("0 0 13 * *", day_or=False), CronSpec("0 0 13 * *", "Etc/UTC")),
    ("two clocks differing in the minute", Schedule(clocks=[clocks.CronClock("0 9 * * *"), clocks.CronClock("30 9 * * *")]),
     CronSpec("0,30 9 * * *", "Etc/UTC")),
    ("identical clocks", Schedule(clocks=[clocks.IntervalClock(timedelta(hours=1)), clocks.CronClock("0 * * * *")]),
     CronSpec("0 * * * *", "Etc/UTC")),
    ("clock parameter defaults", Schedule(clocks=[clocks.CronClock("0 3 * * *", parameter_defaults={"n": 2})]),
     CronSpec("0 3 * * *", "Etc/UTC", {"n": 2})),
]


@pytest.mark.parametrize("schedule,expected", [case[1:] for case in EXPRESSIBLE], ids=[c[0] for c in EXPRESSIBLE])
def test_expressible_schedules_become_one_cron_line_firing_at_the_same_times(schedule, expected):
    spec = to_cron(schedule.to_dict(), NOW)
    assert spec == expected
    cron = CronSchedule(spec.schedule, start_date=NOW.astimezone(zone(spec.time_zone)))
    assert cron.next(60, after=NOW) == schedule.next(60, after=NOW)


NOT_EXPRESSIBLE = [
    ("sub-minute", IntervalSchedule(interval=timedelta(seconds=30)), "fires every 30 s, and cron counts whole minutes"),
    ("not dividing an hour", IntervalSchedule(interval=timedelta(minutes=90)),
     "fires every 90 min, which does not divide an hour or a day evenly"),
    ("not dividing a day", IntervalSchedule(interval=timedelta(hours=5)), "fires every 5 h, which does not divide"),
    ("every other day", IntervalSchedule(interval=timedelta(days=2)), "cron repeats daily or weekly, not every 2 days"),
    ("off the minute", IntervalSchedule(start_date=datetime(2026, 1, 1, 0, 0, 30), interval=timedelta(minutes=1)),
     "off the whole minute"),
    ("an end date", IntervalSchedule(interval=timedelta(hours=1), end_date=datetime(2030, 1, 1)), "has an end_date"),
    ("a future start", CronSchedule("0 0 * * *", start_date=datetime(2027, 1, 1)), "in the future"),
    ("fixed dates", Schedule(clocks=[clocks.DatesClock([datetime(2027, 1, 1)])]), "fires on fixed dates"),
    ("a filter", Schedule(clocks=[clocks.CronClock("0 9 * * *")], filters=[filters.is_weekday]),
     "it has filters (is_weekday)"),
    ("an adjustment", Schedule(clocks=[clocks.CronClock("0 9 * * *")], adjustments=[adjustments.next_weekday]),
     "it has adjustments (next_weekday)"),
    ("last day of month", CronSchedule("0 0 L * *"), "'0 0 L * *' uses L, W or #"),
    ("nth weekday", CronSchedule("0 0 * * MON#1"), "uses L, W or #"),
    ("AND of day fields", CronSchedule("0 0 1 * MON", day_or=False), "day_or=False"),
    ("a half-hour fixed offset", CronSchedule("0 9 * * *", start_date=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
     "fixed offset +05:30"),
    ("clocks differing in two fields", Schedule(clocks=[clocks.CronClock("0 9 * * *"), clocks.CronClock("30 10 * * *")]),
     "its 2 clocks fire at times no single cron line covers"),
    ("a star day field in a union", Schedule(clocks=[clocks.CronClock("0 0 * * 1"), clocks.CronClock("0 0 5 * 1")]),
     "no single cron line covers"),
    ("clocks in two zones", Schedule(clocks=[clocks.CronClock("0 9 * * *"),
                                             clocks.CronClock("0 9 * * *", start_date=datetime(2026, 1, 1, tzinfo=BERLIN))]),
     "differ in time zone, parameter defaults or labels"),
    ("clocks with different parameters", Schedule(clocks=[clocks.CronClock("0 9 * * *", parameter_defaults={"a": 1}),
                                                          clocks.CronClock("0 10 * * *", parameter_defaults={"a": 2})]),
     "differ in time zone, parameter defaults or labels"),
]


class _Opaque:
    """A schedule object of the user's own, registered by its repr."""

    def to_dict(self):
        return "<MySchedule every full moon>"


NOT_EXPRESSIBLE.append(("a schedule of the user's own", _Opaque(), "it was registered as '<MySchedule every full moon>'"))


@pytest.mark.parametrize("schedule,part", [case[1:] for case in NOT_EXPRESSIBLE], ids=[c[0] for c in NOT_EXPRESSIBLE])
def test_inexpressible_schedules_name_the_part_and_the_way_out(schedule, part):
    with pytest.raises(NotCron) as caught:
        to_cron(schedule.to_dict(), NOW)
    message = str(caught.value)
    assert part in message
    assert message.startswith("the flow's schedule cannot be a Kubernetes CronJob: ")
    assert message.endswith("run it with `flowimg agent` instead, or pass --job to write a plain Job")
