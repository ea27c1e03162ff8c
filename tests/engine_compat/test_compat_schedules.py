"""Schedules (docs/core/concepts/schedules.md, tutorial/05-running-on-a-schedule.md)."""
from datetime import datetime, timedelta, timezone

import pytest

from flowimg import Flow, task
from flowimg.schedules import CronSchedule, IntervalSchedule, Schedule
from flowimg.schedules.clocks import CronClock, IntervalClock

UTC = timezone.utc
START = datetime(2020, 1, 1)  # naive datetimes are taken as UTC (concepts/schedules.md, time zones)
AFTER = datetime(2020, 1, 1, 0, 30)


def as_tuples(dates):
    """Compare instants as UTC tuples (run times are timezone-aware, possibly a datetime subclass)."""
    return [d.astimezone(UTC).timetuple()[:6] for d in dates]


def test_interval_schedule_next():
    """concepts/schedules.md: IntervalSchedule(start_date, interval).next(n, after) lists the next n
    run times on the grid start_date + k*interval after `after`."""
    s = IntervalSchedule(start_date=START, interval=timedelta(hours=1))
    assert as_tuples(s.next(3, after=AFTER)) == [(2020, 1, 1, 1, 0, 0), (2020, 1, 1, 2, 0, 0),
                                                 (2020, 1, 1, 3, 0, 0)]


def test_interval_schedule_end_date_stops_it():
    """concepts/schedules.md: no run times after end_date."""
    s = IntervalSchedule(start_date=START, interval=timedelta(hours=1),
                         end_date=datetime(2020, 1, 1, 2))
    assert as_tuples(s.next(5, after=AFTER)) == [(2020, 1, 1, 1, 0, 0), (2020, 1, 1, 2, 0, 0)]


def test_cron_schedule_next():
    """concepts/schedules.md: CronSchedule("0 8 * * *") fires at 08:00 every day."""
    s = CronSchedule("0 8 * * *", start_date=START)
    assert as_tuples(s.next(2, after=AFTER)) == [(2020, 1, 1, 8, 0, 0), (2020, 1, 2, 8, 0, 0)]


def test_schedule_with_several_clocks_merges_them_in_order():
    """concepts/schedules.md "Clocks": Schedule(clocks=[...]) yields the union of its clocks' events,
    sorted."""
    s = Schedule(clocks=[IntervalClock(timedelta(days=1), start_date=START),
                         CronClock("0 12 * * *", start_date=START)])
    assert as_tuples(s.next(4, after=AFTER)) == [(2020, 1, 1, 12, 0, 0), (2020, 1, 2, 0, 0, 0),
                                                 (2020, 1, 2, 12, 0, 0), (2020, 1, 3, 0, 0, 0)]


def test_clock_parameter_defaults_ride_on_events():
    """concepts/schedules.md "Varying Parameter Values": a clock's parameter_defaults come with each
    of its events."""
    s = Schedule(clocks=[IntervalClock(timedelta(hours=1), start_date=START,
                                       parameter_defaults={"p": "x"})])
    event = s.next(1, after=AFTER, return_events=True)[0]
    assert event.parameter_defaults == {"p": "x"}
    assert as_tuples([event.start_time]) == [(2020, 1, 1, 1, 0, 0)]


def test_interval_must_be_positive():
    """concepts/schedules.md: an IntervalSchedule needs a positive interval."""
    with pytest.raises(ValueError):
        IntervalSchedule(start_date=START, interval=timedelta(0))


@task
def hello():
    return "hello"


def test_flow_keeps_its_schedule_and_runs_once_off_schedule():
    """concepts/schedules.md: Flow(schedule=...) keeps the schedule; flow.run(run_on_schedule=False)
    runs once, now."""
    s = IntervalSchedule(start_date=START, interval=timedelta(minutes=1))
    with Flow("sched", schedule=s) as flow:
        r = hello()
    assert flow.schedule is s
    state = flow.run(run_on_schedule=False)
    assert state.result[r].result == "hello"


def test_flow_run_with_a_finished_schedule_is_refused():
    """concepts/schedules.md: flow.run() follows the schedule; when it has no future run it raises
    ValueError instead of running."""
    s = IntervalSchedule(start_date=START, interval=timedelta(hours=1),
                         end_date=datetime(2020, 1, 2))
    calls = []

    @task
    def side():
        calls.append(1)

    with Flow("done", schedule=s) as flow:
        side()
    with pytest.raises(ValueError):
        flow.run()
    assert calls == []
