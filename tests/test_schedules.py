"""flowimg.schedules against Prefect 1.4.1: every expected datetime below is what Prefect 1.4.1
(pendulum 2.1.2, croniter 1.3.7) returned for the same schedule, pasted in as a literal."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flowimg.errors import FlowimgError
from flowimg.schedules import (CronSchedule, IntervalSchedule, Schedule, ScheduleError,
                               adjustments, clocks, filters, schedule_from_dict)

NY, LON, SYD = "America/New_York", "Europe/London", "Australia/Sydney"
ROOT = Path(__file__).resolve().parents[1]
PY38 = "/root/.pyenv/versions/3.8.18/bin/python"


def dt(*parts):
    """datetime(*numbers), in the zone named by a trailing string; naive without one."""
    zone = parts[-1] if isinstance(parts[-1], str) else None
    numbers = [p for p in parts if not isinstance(p, str)]
    return datetime(*numbers, tzinfo=ZoneInfo(zone) if zone else None)


def weekday_closing(dt):
    """A filter of the user's own, defined at module level so a stored schedule can import it."""
    return dt.hour == 17


CASES = [
    pytest.param(
        lambda: IntervalSchedule(interval=timedelta(hours=1)),
        3, dt(2020,1,1,0,30), [
        '2020-01-01T01:00:00+00:00',
        '2020-01-01T02:00:00+00:00',
        '2020-01-01T03:00:00+00:00',
        ], id='i1h'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,3,1,9,0,NY), interval=timedelta(days=1)),
        5, dt(2020,3,5), [
        '2020-03-05T09:00:00-05:00',
        '2020-03-06T09:00:00-05:00',
        '2020-03-07T09:00:00-05:00',
        '2020-03-08T09:00:00-04:00',
        '2020-03-09T09:00:00-04:00',
        ], id='i1d_ny_dst'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,3,7,0,0,NY), interval=timedelta(hours=1)),
        6, dt(2020,3,8,5,30), [
        '2020-03-08T01:00:00-05:00',
        '2020-03-08T03:00:00-04:00',
        '2020-03-08T04:00:00-04:00',
        '2020-03-08T05:00:00-04:00',
        '2020-03-08T06:00:00-04:00',
        '2020-03-08T07:00:00-04:00',
        ], id='i1h_ny_gap'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,10,31,0,0,NY), interval=timedelta(hours=1)),
        5, dt(2020,11,1,4,30), [
        '2020-11-01T01:00:00-05:00',
        '2020-11-01T02:00:00-05:00',
        '2020-11-01T03:00:00-05:00',
        '2020-11-01T04:00:00-05:00',
        '2020-11-01T05:00:00-05:00',
        ], id='i1h_ny_fall'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,11,1,0,0,NY), interval=timedelta(hours=1)),
        5, dt(2020,11,1,4,30), [
        '2020-11-01T01:00:00-04:00',
        '2020-11-01T02:00:00-05:00',
        '2020-11-01T03:00:00-05:00',
        '2020-11-01T04:00:00-05:00',
        '2020-11-01T05:00:00-05:00',
        ], id='i1h_ny_fall_sameday'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,1,1), interval=timedelta(minutes=90), end_date=dt(2020,1,1,6)),
        10, dt(2019,12,31), [
        '2020-01-01T00:00:00+00:00',
        '2020-01-01T01:30:00+00:00',
        '2020-01-01T03:00:00+00:00',
        '2020-01-01T04:30:00+00:00',
        '2020-01-01T06:00:00+00:00',
        ], id='i90m_end'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,3,20,10,0,LON), interval=timedelta(days=7)),
        3, dt(2020,3,21), [
        '2020-03-27T10:00:00+00:00',
        '2020-04-03T10:00:00+01:00',
        '2020-04-10T10:00:00+01:00',
        ], id='i7d_lon'),
    pytest.param(
        lambda: IntervalSchedule(interval=timedelta(minutes=30)),
        2, dt(2019,1,1,1,0), [
        '2019-01-01T01:30:00+00:00',
        '2019-01-01T02:00:00+00:00',
        ], id='i30m_exact'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,1,1,2,30,SYD), interval=timedelta(days=1)),
        4, dt(2020,4,3), [
        '2020-04-04T02:30:00+11:00',
        '2020-04-05T02:30:00+10:00',
        '2020-04-06T02:30:00+10:00',
        '2020-04-07T02:30:00+10:00',
        ], id='i1d_syd'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,3,6,0,0,NY), interval=timedelta(hours=25)),
        4, dt(2020,3,6), [
        '2020-03-06T00:00:00-05:00',
        '2020-03-07T01:00:00-05:00',
        '2020-03-08T03:00:00-04:00',
        '2020-03-09T03:00:00-04:00',
        ], id='i25h_ny'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,3,1,2,30,NY), interval=timedelta(days=1)),
        4, dt(2020,3,6), [
        '2020-03-06T02:30:00-05:00',
        '2020-03-07T02:30:00-05:00',
        '2020-03-08T03:30:00-04:00',
        '2020-03-09T02:30:00-04:00',
        ], id='i1d_ny_gaptime'),
    pytest.param(
        lambda: IntervalSchedule(start_date=dt(2020,10,25,1,30,NY), interval=timedelta(days=1)),
        4, dt(2020,10,30), [
        '2020-10-30T01:30:00-04:00',
        '2020-10-31T01:30:00-04:00',
        '2020-11-01T01:30:00-05:00',
        '2020-11-02T01:30:00-05:00',
        ], id='i1d_ny_ambtime'),
    pytest.param(
        lambda: CronSchedule("0 9 * * MON-FRI", start_date=dt(2020,3,1,0,0,NY)),
        5, dt(2020,3,6), [
        '2020-03-06T09:00:00-05:00',
        '2020-03-09T09:00:00-04:00',
        '2020-03-10T09:00:00-04:00',
        '2020-03-11T09:00:00-04:00',
        '2020-03-12T09:00:00-04:00',
        ], id='c_weekdays_ny'),
    pytest.param(
        lambda: CronSchedule("0 * * * *", start_date=dt(2020,10,1,0,0,NY)),
        5, dt(2020,11,1,4,30), [
        '2020-11-01T01:00:00-05:00',
        '2020-11-01T02:00:00-05:00',
        '2020-11-01T03:00:00-05:00',
        '2020-11-01T04:00:00-05:00',
        '2020-11-01T05:00:00-05:00',
        ], id='c_hourly_ny_fall'),
    pytest.param(
        lambda: CronSchedule("0 * * * *", start_date=dt(2020,3,1,0,0,NY)),
        5, dt(2020,3,8,5,30), [
        '2020-03-08T01:00:00-05:00',
        '2020-03-08T03:00:00-04:00',
        '2020-03-08T04:00:00-04:00',
        '2020-03-08T05:00:00-04:00',
        '2020-03-08T06:00:00-04:00',
        ], id='c_hourly_ny_gap'),
    pytest.param(
        lambda: CronSchedule("30 2 * * *", start_date=dt(2020,3,1,0,0,NY)),
        4, dt(2020,3,6), [
        '2020-03-06T02:30:00-05:00',
        '2020-03-07T02:30:00-05:00',
        '2020-03-08T03:30:00-04:00',
        '2020-03-09T02:30:00-04:00',
        ], id='c_0230_ny_gap'),
    pytest.param(
        lambda: CronSchedule("30 1 * * *", start_date=dt(2020,10,1,0,0,NY)),
        4, dt(2020,10,30), [
        '2020-10-30T01:30:00-04:00',
        '2020-10-31T01:30:00-04:00',
        '2020-11-01T01:30:00-05:00',
        '2020-11-02T01:30:00-05:00',
        ], id='c_0130_ny_fall'),
    pytest.param(
        lambda: CronSchedule("*/30 1-2 * * *", start_date=dt(2020,10,1,0,0,NY)),
        4, dt(2020,11,1,4,0), [
        '2020-11-01T01:00:00-05:00',
        '2020-11-01T01:30:00-05:00',
        '2020-11-01T02:00:00-05:00',
        '2020-11-01T02:30:00-05:00',
        ], id='c_30m_ny_fall'),
    pytest.param(
        lambda: CronSchedule("*/15 * * * *"),
        3, dt(2020,1,1,0,7,30,500), [
        '2020-01-01T00:15:00+00:00',
        '2020-01-01T00:30:00+00:00',
        '2020-01-01T00:45:00+00:00',
        ], id='c_15m_us'),
    pytest.param(
        lambda: CronSchedule("*/15 * * * *"),
        3, dt(2020,1,1,0,15), [
        '2020-01-01T00:30:00+00:00',
        '2020-01-01T00:45:00+00:00',
        '2020-01-01T01:00:00+00:00',
        ], id='c_15m_exact'),
    pytest.param(
        lambda: CronSchedule("0 0 1,15 * 5"),
        8, dt(2020,1,1), [
        '2020-01-03T00:00:00+00:00',
        '2020-01-10T00:00:00+00:00',
        '2020-01-15T00:00:00+00:00',
        '2020-01-17T00:00:00+00:00',
        '2020-01-24T00:00:00+00:00',
        '2020-01-31T00:00:00+00:00',
        '2020-02-01T00:00:00+00:00',
        '2020-02-07T00:00:00+00:00',
        ], id='c_dayor'),
    pytest.param(
        lambda: CronSchedule("0 0 1,15 * 5", day_or=False),
        3, dt(2020,1,1), [
        '2020-05-01T00:00:00+00:00',
        '2020-05-15T00:00:00+00:00',
        '2021-01-01T00:00:00+00:00',
        ], id='c_dayand'),
    pytest.param(
        lambda: CronSchedule("@weekly"),
        3, dt(2020,2,15), [
        '2020-02-16T00:00:00+00:00',
        '2020-02-23T00:00:00+00:00',
        '2020-03-01T00:00:00+00:00',
        ], id='c_weekly'),
    pytest.param(
        lambda: CronSchedule("@hourly"),
        3, dt(2020,2,15,10,0,1), [
        '2020-02-15T11:00:00+00:00',
        '2020-02-15T12:00:00+00:00',
        '2020-02-15T13:00:00+00:00',
        ], id='c_hourly'),
    pytest.param(
        lambda: CronSchedule("@monthly"),
        3, dt(2020,2,15), [
        '2020-03-01T00:00:00+00:00',
        '2020-04-01T00:00:00+00:00',
        '2020-05-01T00:00:00+00:00',
        ], id='c_monthly'),
    pytest.param(
        lambda: CronSchedule("@yearly"),
        2, dt(2020,2,15), [
        '2021-01-01T00:00:00+00:00',
        '2022-01-01T00:00:00+00:00',
        ], id='c_yearly'),
    pytest.param(
        lambda: CronSchedule("@daily"),
        2, dt(2020,2,15), [
        '2020-02-16T00:00:00+00:00',
        '2020-02-17T00:00:00+00:00',
        ], id='c_daily'),
    pytest.param(
        lambda: CronSchedule("0 0 L * *"),
        4, dt(2020,1,5), [
        '2020-01-31T00:00:00+00:00',
        '2020-02-29T00:00:00+00:00',
        '2020-03-31T00:00:00+00:00',
        '2020-04-30T00:00:00+00:00',
        ], id='c_L'),
    pytest.param(
        lambda: CronSchedule("0 10 * * 5#2"),
        4, dt(2020,1,1), [
        '2020-01-10T10:00:00+00:00',
        '2020-02-14T10:00:00+00:00',
        '2020-03-13T10:00:00+00:00',
        '2020-04-10T10:00:00+00:00',
        ], id='c_nth'),
    pytest.param(
        lambda: CronSchedule("0 12 * jan,JUL sun"),
        4, dt(2020,1,1), [
        '2020-01-05T12:00:00+00:00',
        '2020-01-12T12:00:00+00:00',
        '2020-01-19T12:00:00+00:00',
        '2020-01-26T12:00:00+00:00',
        ], id='c_names'),
    pytest.param(
        lambda: CronSchedule("0 0 */2 * MON"),
        8, dt(2020,1,1), [
        '2020-01-03T00:00:00+00:00',
        '2020-01-05T00:00:00+00:00',
        '2020-01-06T00:00:00+00:00',
        '2020-01-07T00:00:00+00:00',
        '2020-01-09T00:00:00+00:00',
        '2020-01-11T00:00:00+00:00',
        '2020-01-13T00:00:00+00:00',
        '2020-01-15T00:00:00+00:00',
        ], id='c_stepday_mon'),
    pytest.param(
        lambda: CronSchedule("0 0 * * 7"),
        2, dt(2020,1,1), [
        '2020-01-05T00:00:00+00:00',
        '2020-01-12T00:00:00+00:00',
        ], id='c_sun7'),
    pytest.param(
        lambda: CronSchedule("5-40/10 3 * * *"),
        5, dt(2020,1,1), [
        '2020-01-01T03:05:00+00:00',
        '2020-01-01T03:15:00+00:00',
        '2020-01-01T03:25:00+00:00',
        '2020-01-01T03:35:00+00:00',
        '2020-01-02T03:05:00+00:00',
        ], id='c_range_step'),
    pytest.param(
        lambda: CronSchedule("10/20 * * * *"),
        4, dt(2020,1,1), [
        '2020-01-01T00:10:00+00:00',
        '2020-01-01T00:30:00+00:00',
        '2020-01-01T00:50:00+00:00',
        '2020-01-01T01:10:00+00:00',
        ], id='c_slash_num'),
    pytest.param(
        lambda: CronSchedule("0 0 * * *", start_date=dt(2020,5,5)),
        2, dt(2020,1,1), [
        '2020-05-05T00:00:00+00:00',
        '2020-05-06T00:00:00+00:00',
        ], id='c_start_future'),
    pytest.param(
        lambda: CronSchedule("*/10 * * * *", start_date=dt(2020,5,5,0,5)),
        2, dt(2020,1,1), [
        '2020-05-05T00:10:00+00:00',
        '2020-05-05T00:20:00+00:00',
        ], id='c_start_mid'),
    pytest.param(
        lambda: CronSchedule("0 0 * * *", end_date=dt(2020,1,3)),
        5, dt(2020,1,1), [
        '2020-01-02T00:00:00+00:00',
        '2020-01-03T00:00:00+00:00',
        ], id='c_end'),
    pytest.param(
        lambda: CronSchedule("30 1 * * *", start_date=dt(2020,3,1,0,0,LON)),
        3, dt(2020,3,28), [
        '2020-03-28T01:30:00+00:00',
        '2020-03-29T02:30:00+01:00',
        '2020-03-30T01:30:00+01:00',
        ], id='c_lon_gap'),
    pytest.param(
        lambda: CronSchedule("30 2 * * *", start_date=dt(2020,3,1,0,0,SYD)),
        3, dt(2020,4,4), [
        '2020-04-05T02:30:00+10:00',
        '2020-04-06T02:30:00+10:00',
        '2020-04-07T02:30:00+10:00',
        ], id='c_syd_fall'),
    pytest.param(
        lambda: CronSchedule("0 9 * * *", start_date=dt(2020,3,1,0,0,NY)),
        2, dt(2020,3,6,13,59,0,0,LON), [
        '2020-03-06T09:00:00-05:00',
        '2020-03-07T09:00:00-05:00',
        ], id='c_after_tz'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.DatesClock([dt(2020,1,3,"UTC"), dt(2020,1,1,0,0,NY), dt(2020,1,2,"UTC")])]),
        5, dt(2020,1,1,1,"UTC"), [
        '2020-01-01T00:00:00-05:00',
        '2020-01-02T00:00:00+00:00',
        '2020-01-03T00:00:00+00:00',
        ], id='dates'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(hours=1))], filters=[filters.is_weekday], or_filters=[filters.between_times(time(9), time(9)), filters.between_times(time(15), time(15))], not_filters=[filters.between_dates(1, 1, 1, 31)]),
        6, dt(2020,1,30), [
        '2020-02-03T09:00:00+00:00',
        '2020-02-03T15:00:00+00:00',
        '2020-02-04T09:00:00+00:00',
        '2020-02-04T15:00:00+00:00',
        '2020-02-05T09:00:00+00:00',
        '2020-02-05T15:00:00+00:00',
        ], id='filters'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(days=1))], filters=[filters.is_month_end], adjustments=[adjustments.next_weekday]),
        5, dt(2020,1,1), [
        '2020-01-31T00:00:00+00:00',
        '2020-03-02T00:00:00+00:00',
        '2020-03-31T00:00:00+00:00',
        '2020-04-30T00:00:00+00:00',
        '2020-06-01T00:00:00+00:00',
        ], id='month_end_next_wd'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.CronClock("0 0 * * *", start_date=dt(2020,3,1,0,0,NY))], adjustments=[adjustments.add(timedelta(hours=26))]),
        3, dt(2020,3,6), [
        '2020-03-07T02:00:00-05:00',
        '2020-03-08T03:00:00-04:00',
        '2020-03-09T03:00:00-04:00',
        ], id='adj_add'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.CronClock("0 1 * * SAT", start_date=dt(2020,3,1,0,0,NY))], adjustments=[adjustments.next_weekday]),
        2, dt(2020,3,1), [
        '2020-03-09T01:00:00-04:00',
        '2020-03-16T01:00:00-04:00',
        ], id='next_wd_ny'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(days=1))], filters=[filters.is_month_start]),
        3, dt(2020,1,1), [
        '2020-02-01T00:00:00+00:00',
        '2020-03-01T00:00:00+00:00',
        '2020-04-01T00:00:00+00:00',
        ], id='month_start'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.CronClock("0 22 * * *", start_date=dt(2020,1,1,0,0,NY))], filters=[filters.is_weekend]),
        3, dt(2020,1,1), [
        '2020-01-04T22:00:00-05:00',
        '2020-01-05T22:00:00-05:00',
        '2020-01-11T22:00:00-05:00',
        ], id='weekend_local'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(hours=6))], filters=[filters.on_date(2, 29)]),
        5, dt(2020,1,1), [
        '2020-02-29T00:00:00+00:00',
        '2020-02-29T06:00:00+00:00',
        '2020-02-29T12:00:00+00:00',
        '2020-02-29T18:00:00+00:00',
        '2024-02-29T00:00:00+00:00',
        ], id='on_date'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(minutes=45))], filters=[filters.at_time(time(6, 0))]),
        3, dt(2020,1,1), [
        '2020-01-01T06:00:00+00:00',
        '2020-01-02T06:00:00+00:00',
        '2020-01-03T06:00:00+00:00',
        ], id='at_time'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(hours=8))], filters=[filters.between_datetimes(dt(2020,1,2,0,0,0,0,"UTC"), dt(2020,1,3,0,0,0,0,"UTC"))]),
        5, dt(2020,1,1), [
        '2020-01-02T00:00:00+00:00',
        '2020-01-02T08:00:00+00:00',
        '2020-01-02T16:00:00+00:00',
        '2020-01-03T00:00:00+00:00',
        ], id='between_dt'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(hours=8))], filters=[filters.on_datetime(dt(2020,1,2,16,0,0,0,"UTC"))]),
        5, dt(2020,1,1), [
        '2020-01-02T16:00:00+00:00',
        ], id='on_dt'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(hours=2))], filters=[filters.between_times(time(22), time(2))]),
        5, dt(2020,1,1), [
        '2020-01-01T02:00:00+00:00',
        '2020-01-01T22:00:00+00:00',
        '2020-01-02T00:00:00+00:00',
        '2020-01-02T02:00:00+00:00',
        '2020-01-02T22:00:00+00:00',
        ], id='between_times_wrap'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(days=20))], filters=[filters.between_dates(11, 15, 2, 10)]),
        6, dt(2020,1,1), [
        '2020-01-16T00:00:00+00:00',
        '2020-02-05T00:00:00+00:00',
        '2020-12-01T00:00:00+00:00',
        '2020-12-21T00:00:00+00:00',
        '2021-01-10T00:00:00+00:00',
        '2021-01-30T00:00:00+00:00',
        ], id='between_dates_wrap'),
    pytest.param(
        lambda: Schedule(clocks=[clocks.IntervalClock(timedelta(days=1))], filters=[filters.is_day_of_week(2)]),
        2, dt(2020,1,1), [
        '2020-01-08T00:00:00+00:00',
        '2020-01-15T00:00:00+00:00',
        ], id='dow'),
    pytest.param(
        lambda: CronSchedule("0 0 * * L5"),
        3, dt(2020,1,1), [
        '2020-01-31T00:00:00+00:00',
        '2020-02-28T00:00:00+00:00',
        '2020-03-27T00:00:00+00:00',
        ], id='x_L5'),
    pytest.param(
        lambda: CronSchedule("0 0 1,L * *"),
        4, dt(2020,1,1), [
        '2020-01-31T00:00:00+00:00',
        '2020-02-01T00:00:00+00:00',
        '2020-02-29T00:00:00+00:00',
        '2020-03-01T00:00:00+00:00',
        ], id='x_1L'),
    pytest.param(
        lambda: CronSchedule("0 0 * * 1#2,3#4"),
        4, dt(2020,1,1), [
        '2020-01-13T00:00:00+00:00',
        '2020-01-22T00:00:00+00:00',
        '2020-02-10T00:00:00+00:00',
        '2020-02-26T00:00:00+00:00',
        ], id='x_nth2'),
    pytest.param(
        lambda: CronSchedule("0 12 * * L1,L6"),
        4, dt(2020,1,1), [
        '2020-01-25T12:00:00+00:00',
        '2020-01-27T12:00:00+00:00',
        '2020-02-24T12:00:00+00:00',
        '2020-02-29T12:00:00+00:00',
        ], id='x_L16'),
    pytest.param(
        lambda: CronSchedule("0 0 * * */2"),
        4, dt(2020,1,1), [
        '2020-01-02T00:00:00+00:00',
        '2020-01-04T00:00:00+00:00',
        '2020-01-05T00:00:00+00:00',
        '2020-01-07T00:00:00+00:00',
        ], id='x_dowstep'),
    pytest.param(
        lambda: CronSchedule("0 0 1 * 1-5"),
        6, dt(2020,1,1), [
        '2020-01-02T00:00:00+00:00',
        '2020-01-03T00:00:00+00:00',
        '2020-01-06T00:00:00+00:00',
        '2020-01-07T00:00:00+00:00',
        '2020-01-08T00:00:00+00:00',
        '2020-01-09T00:00:00+00:00',
        ], id='x_dom_dow'),
    pytest.param(
        lambda: CronSchedule("0 0 1 * 1-5", day_or=False),
        3, dt(2020,1,1), [
        '2020-04-01T00:00:00+00:00',
        '2020-05-01T00:00:00+00:00',
        '2020-06-01T00:00:00+00:00',
        ], id='x_dom_dow_and'),
    pytest.param(
        lambda: CronSchedule("0 0 * * 0-6/2"),
        4, dt(2020,1,1), [
        '2020-01-02T00:00:00+00:00',
        '2020-01-04T00:00:00+00:00',
        '2020-01-05T00:00:00+00:00',
        '2020-01-07T00:00:00+00:00',
        ], id='x_dow06'),
    pytest.param(
        lambda: CronSchedule("*/5 */2 * * *"),
        4, dt(2020,1,1,1,57), [
        '2020-01-01T02:00:00+00:00',
        '2020-01-01T02:05:00+00:00',
        '2020-01-01T02:10:00+00:00',
        '2020-01-01T02:15:00+00:00',
        ], id='x_h2'),
    pytest.param(
        lambda: CronSchedule("0 0 1-31/2 * *"),
        4, dt(2020,1,30), [
        '2020-01-31T00:00:00+00:00',
        '2020-02-01T00:00:00+00:00',
        '2020-02-03T00:00:00+00:00',
        '2020-02-05T00:00:00+00:00',
        ], id='x_domstep'),
    pytest.param(
        lambda: CronSchedule("0 0 */10 * 1", day_or=False),
        4, dt(2020,1,1), [
        '2020-05-11T00:00:00+00:00',
        '2020-06-01T00:00:00+00:00',
        '2020-08-31T00:00:00+00:00',
        '2020-09-21T00:00:00+00:00',
        ], id='x_domstar_step_dow'),
    pytest.param(
        lambda: CronSchedule("0 0 29 2 *"),
        2, dt(2020,3,1), [
        '2024-02-29T00:00:00+00:00',
        '2028-02-29T00:00:00+00:00',
        ], id='x_feb29'),
    pytest.param(
        lambda: CronSchedule("0 0 * * sun-sat"),
        2, dt(2020,1,1), [
        '2020-01-02T00:00:00+00:00',
        '2020-01-03T00:00:00+00:00',
        ], id='x_sunsat'),
    pytest.param(
        lambda: CronSchedule("0 0 * * 1-7"),
        2, dt(2020,1,4), [
        '2020-01-05T00:00:00+00:00',
        '2020-01-06T00:00:00+00:00',
        ], id='x_1to7'),
    pytest.param(
        lambda: CronSchedule("1-5/2,30 * * * *"),
        5, dt(2020,1,1), [
        '2020-01-01T00:01:00+00:00',
        '2020-01-01T00:03:00+00:00',
        '2020-01-01T00:05:00+00:00',
        '2020-01-01T00:30:00+00:00',
        '2020-01-01T01:01:00+00:00',
        ], id='x_listrange'),
    pytest.param(
        lambda: CronSchedule("0 0 * * 1/3"),
        4, dt(2020,1,1), [
        '2020-01-02T00:00:00+00:00',
        '2020-01-05T00:00:00+00:00',
        '2020-01-06T00:00:00+00:00',
        '2020-01-09T00:00:00+00:00',
        ], id='x_dow_step_start'),
]


@pytest.mark.parametrize("build, n, after, expected", CASES)
def test_next_matches_prefect(build, n, after, expected):
    times = build().next(n, after=after)
    assert [t.isoformat() for t in times] == expected
    assert all(t.tzinfo is not None for t in times)


@pytest.mark.parametrize("build, n, after, expected", CASES)
def test_dict_form_round_trips_to_the_same_times(build, n, after, expected):
    data = build().to_dict()
    stored = json.loads(json.dumps(data))
    rebuilt = schedule_from_dict(stored)
    assert [t.isoformat() for t in rebuilt.next(n, after=after)] == expected
    assert rebuilt.to_dict() == data


def test_events_carry_parameter_defaults_and_labels():
    schedule = Schedule(clocks=[
        clocks.IntervalClock(timedelta(hours=12), start_date=dt(2020, 1, 1),
                             parameter_defaults={"p": 1}),
        clocks.CronClock("0 6 * * *", labels=["a"]),
        clocks.IntervalClock(timedelta(days=1), start_date=dt(2020, 1, 1)),
    ])
    events = schedule.next(8, after=dt(2020, 1, 1), return_events=True)
    assert [(e.start_time.isoformat(), e.parameter_defaults, e.labels) for e in events] == [
        ("2020-01-01T06:00:00+00:00", {}, ["a"]),
        ("2020-01-01T12:00:00+00:00", {"p": 1}, None),
        ("2020-01-02T00:00:00+00:00", {}, None),
        ("2020-01-02T00:00:00+00:00", {"p": 1}, None),
        ("2020-01-02T06:00:00+00:00", {}, ["a"]),
        ("2020-01-02T12:00:00+00:00", {"p": 1}, None),
        ("2020-01-03T00:00:00+00:00", {}, None),
        ("2020-01-03T00:00:00+00:00", {"p": 1}, None),
    ]


def test_two_clocks_firing_together_give_one_run():
    schedule = Schedule(clocks=[clocks.CronClock("0 * * * *"), clocks.CronClock("0 */2 * * *")])
    assert [t.hour for t in schedule.next(4, after=dt(2020, 1, 1))] == [1, 2, 3, 4]


def test_day_after_fall_back_keeps_its_runs():
    """Deliberate difference: croniter 1.3.7 drops 01:00 and 01:30 on 2 Nov 2020 when it walks
    through the fall-back night; Prefect itself lists them when asked from 2 Nov on."""
    schedule = CronSchedule("*/30 1-2 * * *", start_date=dt(2020, 10, 1, NY))
    times = schedule.next(6, after=dt(2020, 11, 1, 4, 0))
    assert [t.isoformat() for t in times[4:]] == [
        "2020-11-02T01:00:00-05:00", "2020-11-02T01:30:00-05:00"]


def test_no_after_means_from_now():
    before = datetime.now(timezone.utc)
    first = IntervalSchedule(interval=timedelta(minutes=1)).next(1)[0]
    assert before < first <= before + timedelta(minutes=1)
    assert CronSchedule("* * * * *").next(1)[0] > before


def test_next_stops_after_ten_thousand_rejected_events():
    schedule = Schedule(clocks=[clocks.IntervalClock(timedelta(minutes=1))],
                        filters=[filters.on_date(2, 30)])
    assert schedule.next(1, after=dt(2020, 1, 1)) == []


def test_naive_dates_clock_means_utc():
    clock = clocks.DatesClock([dt(2020, 1, 2), dt(2020, 1, 1)])
    assert Schedule(clocks=[clock]).next(3, after=dt(2019, 1, 1)) == [
        datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2020, 1, 2, tzinfo=timezone.utc)]
    assert clock.start_date.isoformat() == "2020-01-01T00:00:00+00:00"


def test_schedule_dates_span_its_clocks():
    schedule = Schedule(clocks=[
        clocks.IntervalClock(timedelta(hours=1), start_date=dt(2020, 2, 1), end_date=dt(2020, 3, 1)),
        clocks.CronClock("0 0 * * *", start_date=dt(2020, 1, 1, NY)),
    ])
    assert schedule.start_date.isoformat() == "2020-01-01T00:00:00-05:00"
    assert schedule.end_date.isoformat() == "2020-03-01T00:00:00+00:00"


@pytest.mark.parametrize("make, words", [
    (lambda: Schedule(clocks=[]), ["at least one clock", "clocks=["]),
    (lambda: IntervalSchedule(interval=timedelta(0)), ["greater than 0", "timedelta(minutes=10)"]),
    (lambda: IntervalSchedule(interval=timedelta(hours=-1)), ["greater than 0"]),
    (lambda: IntervalSchedule(interval=60), ["datetime.timedelta", "60"]),
    (lambda: IntervalSchedule(), ["needs an interval"]),
    (lambda: CronSchedule("61 * * * *"), ["'61 * * * *'", "minute value 61 is outside 0-59",
                                          "five fields"]),
    (lambda: CronSchedule("* * * *"), ["has 4 fields", "'0 9 * * MON-FRI'"]),
    (lambda: CronSchedule("0 0 * * FRI-MON"), ["runs backwards"]),
    (lambda: CronSchedule("*/0 * * * *"), ["step must be at least 1"]),
    (lambda: CronSchedule("0 0 * * 5#6"), ["week number after '#' must be 1-5"]),
    (lambda: CronSchedule("0 0 30 2 *"), ["no date ever matches", "30 February"]),
    (lambda: CronSchedule("0 0 * * fri-x"), ["'x', which is not a number or a name"]),
    (lambda: CronSchedule("@reboot"), ["has 1 fields"]),
    (lambda: clocks.DatesClock([]), ["at least one date"]),
])
def test_bad_input_is_one_line_naming_the_fix(make, words):
    with pytest.raises(ScheduleError) as info:
        make()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    assert isinstance(info.value, FlowimgError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("cron", [
    "* * * * *", "0 0 L * *", "0 0 1,L * *", "0 0 * * L5", "0 0 * * mon#2", "0-59/15 * * * *",
    "0 0 * jan-dec *", "0 0 * * sun-sat", "0 0 * * 7", "5/15 * * * *", "@YEARLY", "@annually",
    "@midnight", "  0 0 * * *  ",
])
def test_cron_forms_croniter_accepts(cron):
    assert CronSchedule(cron).next(1, after=dt(2020, 1, 1))


def test_dict_form_is_stable_json():
    schedule = Schedule(
        clocks=[clocks.CronClock("0 9 * * MON-FRI", start_date=dt(2020, 3, 1, 8, 30, NY),
                                 parameter_defaults={"z": [1, 2], "a": "x"}, labels=["prod"]),
                clocks.IntervalClock(timedelta(minutes=90), end_date=dt(2021, 1, 1)),
                clocks.DatesClock([dt(2020, 5, 5, 12, 0, LON)])],
        filters=[filters.is_weekday, filters.between_times(time(9), time(17, 30))],
        or_filters=[filters.between_datetimes(dt(2020, 1, 1), dt(2021, 1, 1, SYD))],
        not_filters=[filters.on_date(12, 25), weekday_closing],
        adjustments=[adjustments.add(timedelta(minutes=5)), adjustments.next_weekday])
    data = schedule.to_dict()
    assert data == {
        "type": "Schedule", "format": 1,
        "clocks": [
            {"type": "CronClock", "cron": "0 9 * * MON-FRI", "day_or": True,
             "start_date": {"dt": "2020-03-01T08:30:00-05:00", "tz": "America/New_York"},
             "end_date": None, "parameter_defaults": {"a": "x", "z": [1, 2]}, "labels": ["prod"]},
            {"type": "IntervalClock", "interval_seconds": 5400, "start_date": None,
             "end_date": {"dt": "2021-01-01T00:00:00+00:00", "tz": "UTC"},
             "parameter_defaults": {}, "labels": None},
            {"type": "DatesClock",
             "dates": [{"dt": "2020-05-05T12:00:00+01:00", "tz": "Europe/London"}],
             "parameter_defaults": {}, "labels": None},
        ],
        "filters": [
            {"fn": "is_weekday"},
            {"fn": "between_times", "args": [{"time": "09:00:00"}, {"time": "17:30:00"}]},
        ],
        "or_filters": [
            {"fn": "between_datetimes", "args": [
                {"datetime": {"dt": "2020-01-01T00:00:00+00:00", "tz": "UTC"}},
                {"datetime": {"dt": "2021-01-01T00:00:00+11:00", "tz": "Australia/Sydney"}}]},
        ],
        "not_filters": [
            {"fn": "on_date", "args": [12, 25]},
            {"fn": f"{__name__}:weekday_closing"},
        ],
        "adjustments": [{"fn": "add", "args": [{"timedelta": 300}]}, {"fn": "next_weekday"}],
    }
    text = json.dumps(data, sort_keys=True)
    assert list(data["clocks"][0]["parameter_defaults"]) == ["a", "z"]
    rebuilt = schedule_from_dict(json.loads(text))
    assert rebuilt.not_filters[1] is weekday_closing
    after = dt(2020, 3, 6)
    assert rebuilt.next(5, after=after) == schedule.next(5, after=after)
    assert [t.isoformat() for t in schedule.next(3, after=after)] == [
        "2020-03-06T09:05:00+00:00", "2020-03-06T10:35:00+00:00", "2020-03-06T12:05:00+00:00"]


def test_dict_form_refuses_what_it_cannot_rebuild():
    with pytest.raises(ScheduleError, match="define it at module level"):
        Schedule(clocks=[clocks.CronClock("@daily")], filters=[lambda d: True]).to_dict()
    with pytest.raises(ScheduleError, match=r"parameter_defaults\['when'\].*not JSON data"):
        Schedule(clocks=[clocks.CronClock("@daily", parameter_defaults={"when": object()})]).to_dict()
    with pytest.raises(ScheduleError, match="re-register the flow"):
        schedule_from_dict({"type": "Schedule", "format": 99, "clocks": []})
    with pytest.raises(ScheduleError, match="Unknown clock type 'MoonClock'"):
        schedule_from_dict({"type": "Schedule", "format": 1, "clocks": [{"type": "MoonClock"}]})
    with pytest.raises(ScheduleError, match="cannot be imported"):
        schedule_from_dict({"type": "Schedule", "format": 1, "filters": [{"fn": "nowhere:f"}],
                            "clocks": [{"type": "CronClock", "cron": "@daily"}]})
    with pytest.raises(ScheduleError, match="Unknown time zone 'Mars/Olympus'"):
        schedule_from_dict({"type": "Schedule", "format": 1, "clocks": [
            {"type": "CronClock", "cron": "@daily",
             "start_date": {"dt": "2020-01-01T00:00:00+00:00", "tz": "Mars/Olympus"}}]})


def test_fixed_offset_zone_round_trips():
    start = datetime(2020, 1, 1, 9, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    schedule = CronSchedule("0 9 * * *", start_date=start)
    data = schedule.to_dict()
    assert data["clocks"][0]["start_date"] == {"dt": "2020-01-01T09:00:00+05:30", "tz": "+05:30"}
    assert schedule_from_dict(data).next(1, after=dt(2020, 1, 2)) == [
        datetime(2020, 1, 2, 9, tzinfo=start.tzinfo)]


PY38_SCRIPT = """
from datetime import datetime, timedelta
from flowimg.schedules import CronSchedule, IntervalSchedule, schedule_from_dict
from flowimg.errors import FlowimgError
print(CronSchedule("0 9 * * MON-FRI").next(2, after=datetime(2020, 1, 3))[1].isoformat())
print(IntervalSchedule(interval=timedelta(days=1)).next(1, after=datetime(2020, 1, 3))[0].isoformat())
data = CronSchedule("@daily").to_dict()
data["clocks"][0]["start_date"] = {"dt": "2020-01-01T00:00:00-05:00", "tz": "America/New_York"}
try:
    schedule_from_dict(data)
except FlowimgError as exc:
    print(exc)
"""


def test_imports_and_runs_on_python_38_without_zoneinfo():
    out = subprocess.run([PY38, "-c", PY38_SCRIPT], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "builder")}).stdout.splitlines()
    assert out == [
        "2020-01-06T09:00:00+00:00",
        "2020-01-04T00:00:00+00:00",
        "Time zone 'America/New_York' needs the zoneinfo module (Python 3.9+); "
        "run on Python 3.9 or newer, or give dates in UTC",
    ]


class NamedZone(tzinfo):
    """A zone known by name only, as pytz and pendulum zones are (they carry `.zone`/`.name`)."""

    zone = "America/New_York"

    def utcoffset(self, dt):
        return timedelta(hours=-5)

    def dst(self, dt):
        return timedelta(0)


class OtherDateTime(datetime):
    """A datetime subclass with its own arithmetic, as pendulum's DateTime is."""

    def __add__(self, other):
        raise AssertionError("schedules must not use a subclass's own arithmetic")


def test_named_zones_and_datetime_subclasses_become_zoneinfo():
    start = OtherDateTime(2020, 3, 1, 9, tzinfo=NamedZone())
    schedule = IntervalSchedule(start_date=start, interval=timedelta(days=1))
    times = schedule.next(2, after=OtherDateTime(2020, 3, 7, 12))
    assert [t.isoformat() for t in times] == ["2020-03-07T09:00:00-05:00",
                                              "2020-03-08T09:00:00-04:00"]
    assert all(type(t) is datetime and t.tzinfo == ZoneInfo(NY) for t in times)
