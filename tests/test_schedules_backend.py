"""Schedules in the registry: run times from the registered dict, and `flowimg register` keeping the
flow's upcoming runs, on SQLite and a real PostgreSQL server."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path


from cli_helpers import one_line_error
from flowimg.backend import open_backend
from flowimg.backend.runs import parse_iso
from flowimg.loading import load_script
from flowimg.scheduling import next_times

UTC = timezone.utc
SCHEDULED_FLOW = '''
from datetime import datetime, timedelta, timezone
from flowimg import task, Flow
from flowimg.schedules import IntervalSchedule, CronSchedule, Schedule
from flowimg.schedules.clocks import CronClock, IntervalClock

@task
def hello():
    print("hello")

with Flow("timed", schedule={schedule}) as flow:
    hello()
'''


def write_flow(path: Path, schedule: str) -> Path:
    path.write_text(SCHEDULED_FLOW.format(schedule=schedule))
    return path


def registered_schedule(tmp_path: Path, schedule: str) -> dict:
    """The schedule dict exactly as registration records it in the flow's structure."""
    flow = load_script(str(write_flow(tmp_path / "timed.py", schedule)))["timed"]
    return dict(flow.structure()["schedule"])


def test_interval_times_count_from_the_start_date_strictly_after(tmp_path):
    schedule = registered_schedule(
        tmp_path, "IntervalSchedule(start_date=datetime(2026, 1, 1, 0, 0, 30, tzinfo=timezone.utc), "
                  "interval=timedelta(minutes=10))")
    after = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)  # exactly on a slot: the next one is the first
    assert next_times(schedule, after, 3) == [datetime(2026, 3, 1, 12, m, 30, tzinfo=UTC) for m in (10, 20, 30)]
    assert next_times(schedule, datetime(2025, 1, 1), 1) == [datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)]


def test_end_date_stops_the_times(tmp_path):
    schedule = registered_schedule(
        tmp_path, "IntervalSchedule(start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), "
                  "interval=timedelta(days=1), end_date=datetime(2026, 1, 3, tzinfo=timezone.utc))")
    assert next_times(schedule, datetime(2025, 12, 31, tzinfo=UTC), 10) == [
        datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]


def test_cron_in_a_zone_comes_back_in_utc(tmp_path):
    schedule = registered_schedule(
        tmp_path, "Schedule(clocks=[CronClock('0 9 * * 1-5', "
                  "start_date=datetime(2026, 1, 1, tzinfo=__import__('zoneinfo').ZoneInfo('Europe/Berlin')))])")
    times = next_times(schedule, datetime(2026, 7, 3, 12, 0, tzinfo=UTC), 2)  # a Friday, summer time
    assert times == [datetime(2026, 7, 6, 7, 0, tzinfo=UTC), datetime(2026, 7, 7, 7, 0, tzinfo=UTC)]
    assert all(t.tzinfo is UTC for t in times)


def test_two_clocks_merge_in_order(tmp_path):
    schedule = registered_schedule(
        tmp_path, "Schedule(clocks=[IntervalClock(timedelta(hours=2), start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)), "
                  "CronClock('30 * * * *')])")
    assert [t.strftime("%H:%M") for t in next_times(schedule, datetime(2026, 1, 1, 0, 0, tzinfo=UTC), 4)] == [
        "00:30", "01:30", "02:00", "02:30"]


# -- registration keeps the upcoming runs --------------------------------------------------------------


def register(cli, *extra, ok=True):
    return cli("register", "-p", "timed.py", "--project", "P", *extra, ok=ok)


def scheduled(url: str) -> list:
    with open_backend(url) as db:
        return sorted((r for r in db.list_runs(flow="timed", state="Scheduled", limit=100)),
                      key=lambda r: r.scheduled_time or "")


def test_register_schedules_ten_runs_and_replaces_them_on_change(cli, tmp_path, registry_url):
    write_flow(tmp_path / "timed.py", "IntervalSchedule(interval=timedelta(minutes=5))")
    before = datetime.now(UTC)
    result = register(cli)
    assert "  └── Version: 1\n  └── Scheduled 10 runs\n" in result.stdout
    runs = scheduled(registry_url)
    times = [parse_iso(r.scheduled_time or "") for r in runs]
    assert len(runs) == 10 and {r.version for r in runs} == {1}
    assert before < times[0] <= before + timedelta(minutes=5)
    assert [b - a for a, b in zip(times, times[1:])] == [timedelta(minutes=5)] * 9
    assert all(t.second == 0 and t.minute % 5 == 0 for t in times)

    assert "Scheduled" not in register(cli).stdout  # unchanged: the same runs stay
    assert [r.id for r in scheduled(registry_url)] == [r.id for r in runs]

    write_flow(tmp_path / "timed.py", "IntervalSchedule(interval=timedelta(minutes=7))")
    assert "  └── Version: 2\n  └── Scheduled 10 runs\n" in register(cli).stdout
    again = scheduled(registry_url)
    assert len(again) == 10 and {r.version for r in again} == {2}
    assert len({r.scheduled_time for r in again}) == 10
    steps = {parse_iso(b.scheduled_time or "") - parse_iso(a.scheduled_time or "") for a, b in zip(again, again[1:])}
    assert steps == {timedelta(minutes=7)}

    (tmp_path / "timed.py").write_text(SCHEDULED_FLOW.format(schedule="None"))
    assert "Scheduled" not in register(cli).stdout
    assert scheduled(registry_url) == []


def test_a_paused_flow_registers_without_runs(cli, tmp_path, registry_url):
    write_flow(tmp_path / "timed.py", "IntervalSchedule(interval=timedelta(hours=1))")
    register(cli)
    cli("schedule", "pause", "timed", "--project", "P")
    assert scheduled(registry_url) == []
    write_flow(tmp_path / "timed.py", "IntervalSchedule(interval=timedelta(hours=2))")
    assert ("  └── Schedule paused: no runs scheduled; resume with `flowimg schedule resume timed --project P`"
            in register(cli).stdout)
    assert scheduled(registry_url) == []
    assert cli("schedule", "resume", "timed", "--project", "P").stdout == (
        "Resumed the schedule of P/timed: 10 runs scheduled\n")
    runs = scheduled(registry_url)
    assert len(runs) == 10 and {r.version for r in runs} == {2}


def test_schedule_commands_refuse_bad_input(cli, tmp_path, registry_url):
    (tmp_path / "timed.py").write_text(SCHEDULED_FLOW.format(schedule="None"))
    register(cli)
    line = one_line_error(cli("schedule", "pause", "timed", "--project", "P", ok=False))
    assert line == ("Error: flow 'timed' in project 'P' has no schedule; give it one "
                    "(Flow('timed', schedule=IntervalSchedule(...))) and register it again")
    assert "project 'P' has no flow named 'nope'" in one_line_error(
        cli("schedule", "resume", "nope", "--project", "P", ok=False))
