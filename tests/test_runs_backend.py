"""Flow-run records in the registry, on SQLite and a real PostgreSQL server: claims, guards, schedules."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, List

import pytest

from flowimg.backend import Backend, FlowVersion, metadata_hash, open_backend
from flowimg.backend.runs import FINISHED, FlowRun, iso, now_iso, parse_iso, slot_key
from flowimg.errors import FlowimgError
from flowimg.schedules import IntervalSchedule

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
FAR = datetime(2100, 1, 1, tzinfo=timezone.utc)
STORAGE = {"kind": "Local", "stored_as_script": True, "settings": {}, "flows": {}}




def register(db: Backend, name: str = "example", labels: List[str] | None = None, schedule: Any = None,
             project: str = "P") -> FlowVersion:
    structure: dict = {"tasks": [], "edges": []}
    if schedule is not None:
        structure["schedule"] = schedule.to_dict()
    labels = labels or []
    digest = metadata_hash(str(structure), STORAGE, labels, {})
    version, _ = db.register(project, name, structure=structure, structure_hash=str(structure), storage=STORAGE,
                             labels=labels, parameters={}, metadata_hash=digest)
    return version


def at(minutes: float) -> str:
    return iso(T0 + timedelta(minutes=minutes))


def due_runs(db: Backend, version: FlowVersion, count: int) -> List[FlowRun]:
    return [db.create_run(version, parameters={"i": i}, scheduled_time=at(i)) for i in range(count)]


def in_threads(count: int, url: str, work: Callable[[Backend, int], Any]) -> List[Any]:
    """Run `work` at once in `count` threads, each on its own connection; their results in order."""
    results: List[Any] = [None] * count
    errors: List[BaseException] = []
    barrier = threading.Barrier(count)

    def body(i: int) -> None:
        try:
            with open_backend(url) as db:
                barrier.wait()
                results[i] = work(db, i)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


def test_time_text_is_fixed_width_utc():
    assert iso(T0) == "2026-11-27T03:00:00.000000Z"
    assert iso(datetime(2026, 11, 27, 4, 30, 0, 5, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-27T03:30:00.000005Z"
    assert iso(datetime(2026, 1, 2)) == "2026-01-02T00:00:00.000000Z"
    assert parse_iso("2026-11-27T03:00:00.000000Z") == T0
    assert len(now_iso()) == len(iso(T0)) and now_iso().endswith("Z")


def test_create_get_and_list_runs(backend):
    version = register(backend, labels=["b", "a"])
    run = backend.create_run(version, parameters={"x": 2}, state="Running", target="local")
    assert (run.project, run.flow, run.version, run.version_id) == ("P", "example", 1, version.id)
    assert (run.state, run.target, run.labels, run.attempt, run.exit_code) == ("Running", "local", ["a", "b"], 1, None)
    assert run.start_time is not None and run.scheduled_time is None and run.log_tail == []
    assert backend.get_run(run.id) == run
    assert backend.get_run(run.id[:8].upper()) == run
    later = backend.create_run(version, parameters={}, scheduled_time=iso(FAR))
    assert later.state == "Scheduled" and later.start_time is None
    other = backend.create_run(register(backend, "other"), parameters={}, scheduled_time=at(-60 * 24 * 365))
    assert [r.id for r in backend.list_runs()] == [later.id, run.id, other.id]
    assert [r.id for r in backend.list_runs(flow="example")] == [later.id, run.id]
    assert [r.id for r in backend.list_runs(state="Scheduled", limit=1)] == [later.id]
    assert backend.list_runs(project="Q") == []


def test_unknown_run_and_state_are_one_line_errors(backend):
    with pytest.raises(FlowimgError, match=r"no flow run 'nope' in the registry .*`flowimg runs list`"):
        backend.get_run("nope")
    with pytest.raises(FlowimgError, match=r"no flow run '0000000' .*"):
        backend.get_run("0000000")  # too short for a prefix
    with pytest.raises(FlowimgError, match="unknown run state 'Done'; use one of Scheduled, Submitted, Running"):
        backend.list_runs(state="Done")
    run = backend.create_run(register(backend), parameters={})
    with pytest.raises(FlowimgError, match="a flow run's project cannot change"):
        backend.update_run(run.id, project="Q")


def test_idempotency_key_makes_one_run(backend):
    version = register(backend)
    first = backend.create_run(version, parameters={}, idempotency_key="retry-of-x")
    again = backend.create_run(version, parameters={"y": 1}, idempotency_key="retry-of-x")
    assert again == first
    assert len(backend.list_runs()) == 1


def test_claims_take_due_runs_oldest_first_and_skip_paused_flows(backend):
    version = register(backend)
    runs = due_runs(backend, version, 4)
    paused = register(backend, "paused")
    backend.create_run(paused, parameters={}, scheduled_time=at(0))
    backend.set_schedule_active("P", "paused", False)
    claimed = backend.claim_runs(agent="a1", labels=[], limit=2, now=at(2))
    assert [r.id for r in claimed] == [runs[0].id, runs[1].id]
    assert {(r.state, r.agent, r.heartbeat) for r in claimed} == {("Submitted", "a1", at(2))}
    # runs[3] is not due yet, runs[2] is; the paused flow's run stays.
    assert [r.id for r in backend.claim_runs(agent="a2", labels=[], limit=10, now=at(2))] == [runs[2].id]
    assert backend.claim_runs(agent="a2", labels=[], limit=10, now=at(2)) == []
    assert backend.list_runs(flow="paused")[0].state == "Scheduled"


def test_an_agent_runs_a_flow_only_with_all_its_labels(backend):
    both = backend.create_run(register(backend, "both", labels=["gpu", "eu"]), parameters={}, scheduled_time=at(0))
    bare = backend.create_run(register(backend, "bare"), parameters={}, scheduled_time=at(1))
    assert [r.id for r in backend.claim_runs(agent="x", labels=["gpu"], limit=10, now=at(5))] == [bare.id]
    assert backend.claim_runs(agent="x", labels=["eu", "us"], limit=10, now=at(5)) == []
    assert [r.id for r in backend.claim_runs(agent="y", labels=["us", "eu", "gpu"], limit=10, now=at(5))] == [both.id]


def test_concurrent_claims_never_share_a_run(backend, backend_url):
    due_runs(backend, register(backend), 60)

    def claim_all(db: Backend, i: int) -> List[str]:
        mine: List[str] = []
        while True:
            got = db.claim_runs(agent=f"agent-{i}", labels=[], limit=3, now=at(100))
            if not got:
                return mine
            mine += [r.id for r in got]

    claimed = in_threads(4, backend_url, claim_all)
    every = [run_id for ids in claimed for run_id in ids]
    assert len(every) == len(set(every)) == 60
    assert {r.state for r in backend.list_runs(limit=100)} == {"Submitted"}
    for i, ids in enumerate(claimed):
        assert {backend.get_run(run_id).agent for run_id in ids} <= {f"agent-{i}"}


@pytest.mark.services
def test_postgres_claims_skip_rows_another_claim_holds(postgres_database_url):
    import psycopg

    with open_backend(postgres_database_url) as db:
        runs = due_runs(db, register(db), 5)
        with psycopg.connect(postgres_database_url) as holder:  # a transaction left open
            held = [row[0] for row in holder.execute(
                "SELECT id FROM flow_runs ORDER BY scheduled_time LIMIT 2 FOR UPDATE").fetchall()]
            assert held == [runs[0].id, runs[1].id]
            result: List[List[FlowRun]] = []
            claimer = threading.Thread(
                target=lambda: result.append(db.claim_runs(agent="b", labels=[], limit=10, now=at(100))))
            claimer.start()
            claimer.join(20)
            assert not claimer.is_alive(), "the claim waited for the held rows instead of skipping them"
            assert [r.id for r in result[0]] == [r.id for r in runs[2:]]
            holder.rollback()
        assert [r.id for r in db.claim_runs(agent="c", labels=[], limit=10, now=at(100))] == [runs[0].id, runs[1].id]


def test_update_run_with_expect_never_overwrites_a_cancelled_run(backend):
    run = backend.create_run(register(backend), parameters={}, state="Running")
    cancelled = backend.cancel_run(run.id)
    assert cancelled.state == "Cancelled" and cancelled.end_time is not None
    assert backend.update_run(run.id, expect=["Running"], state="Success", exit_code=0) is None
    assert backend.get_run(run.id) == cancelled
    other = backend.create_run(register(backend, "b"), parameters={}, state="Running")
    done = backend.update_run(other.id, expect=["Running"], state="Failed", exit_code=3, log_tail=["a", "b"],
                              node="n1", image="img@sha256:1", end_time=at(1))
    assert done is not None
    assert (done.state, done.exit_code, done.log_tail, done.node, done.image, done.end_time) == (
        "Failed", 3, ["a", "b"], "n1", "img@sha256:1", at(1))
    assert backend.get_run(other.id) == done


def test_cancel_of_a_finished_run_is_an_error(backend):
    run = backend.create_run(register(backend), parameters={}, scheduled_time=at(0))
    backend.update_run(run.id, state="Success")
    with pytest.raises(FlowimgError, match=r"already ended \(Success\); only Scheduled, Submitted, Running runs can be "
                                           "cancelled"):
        backend.cancel_run(run.id[:8])


def test_mark_lost_takes_only_runs_with_a_stale_heartbeat(backend):
    version = register(backend)
    stale, fresh, waiting = due_runs(backend, version, 3)
    backend.claim_runs(agent="a", labels=[], limit=2, now=at(0.5))
    backend.update_run(fresh.id, state="Running")
    for run_id in (fresh.id, waiting.id):  # what an agent's heartbeat writes
        backend.update_run(run_id, expect=("Submitted", "Running"), heartbeat=at(10))
    assert backend.get_run(waiting.id).heartbeat is None  # only active runs beat
    lost = backend.mark_lost(stale_before=at(5))
    assert [(r.id, r.state) for r in lost] == [(stale.id, "Lost")]
    assert lost[0].end_time is not None and lost[0] == backend.get_run(stale.id)
    assert backend.get_run(fresh.id).state == "Running"
    assert backend.mark_lost(stale_before=at(5)) == []
    assert "Lost" in FINISHED


def test_replace_scheduled_runs_never_duplicates(backend):
    version = register(backend, schedule=IntervalSchedule(interval=timedelta(minutes=1)))
    past = backend.create_run(version, parameters={}, scheduled_time=at(-1),
                              idempotency_key=slot_key("P", "example", at(-1)))
    times = [at(i) for i in range(1, 6)]
    assert backend.replace_scheduled_runs(version, times, after=at(0)) == 5
    assert backend.replace_scheduled_runs(version, times, after=at(0)) == 5
    assert sorted(r.scheduled_time or "" for r in backend.list_runs()) == [at(-1)] + times
    running = backend.claim_runs(agent="a", labels=[], limit=2, now=at(1.5))  # at(1) is Submitted now
    assert [r.scheduled_time for r in running] == [at(-1), at(1)]
    assert backend.replace_scheduled_runs(version, [at(1), at(3), at(7)], after=at(0)) == 2
    slots = sorted(r.scheduled_time or "" for r in backend.list_runs())
    assert slots == [at(-1), at(1), at(3), at(7)]
    assert backend.get_run(past.id).state == "Submitted"


def test_a_paused_schedule_gets_no_new_runs(backend):
    version = register(backend, schedule=IntervalSchedule(interval=timedelta(minutes=1)))
    assert backend.schedule_active("P", "example") is True
    backend.set_schedule_active("P", "example", False)
    backend.set_schedule_active("P", "example", False)
    assert backend.schedule_active("P", "example") is False
    assert backend.replace_scheduled_runs(version, [at(1)], after=at(0)) == 0
    assert backend.ensure_scheduled(now=at(0), horizon_seconds=3600) == 0
    backend.set_schedule_active("P", "example", True)
    assert backend.ensure_scheduled(now=at(0), horizon_seconds=3600, max_runs=3) == 3


def test_ensure_scheduled_from_many_connections_makes_each_slot_once(backend, backend_url):
    start = T0 + timedelta(seconds=1)
    register(backend, schedule=IntervalSchedule(start_date=T0, interval=timedelta(minutes=1)))
    register(backend, "unscheduled")
    register(backend, "later", schedule=IntervalSchedule(start_date=T0 + timedelta(hours=5), interval=timedelta(minutes=1)))

    def ensure(db: Backend, i: int) -> int:
        return sum(db.ensure_scheduled(now=iso(start), horizon_seconds=600, max_runs=5) for _ in range(3))

    assert sum(in_threads(4, backend_url, ensure)) == 5
    runs = backend.list_runs()
    assert sorted(r.scheduled_time or "" for r in runs) == [at(i) for i in range(1, 6)]
    assert {(r.flow, r.state, r.idempotency_key) for r in runs} == {
        ("example", "Scheduled", slot_key("P", "example", r.scheduled_time or "")) for r in runs}
    # The horizon bounds how far ahead runs are made.
    assert backend.ensure_scheduled(now=iso(start), horizon_seconds=60 * 7.5) == 2


def test_scheduled_runs_take_their_clock_parameters_and_labels(backend):
    from flowimg.schedules import Schedule
    from flowimg.schedules.clocks import IntervalClock
    from flowimg.scheduling import next_times

    schedule = Schedule(clocks=[
        IntervalClock(timedelta(minutes=2), start_date=T0, parameter_defaults={"n": 1}, labels=["gpu"]),
        IntervalClock(timedelta(minutes=5), start_date=T0)])
    version = register(backend, labels=["eu"], schedule=schedule)
    assert backend.ensure_scheduled(now=at(0), horizon_seconds=300, max_runs=10) == 3
    made = sorted(backend.list_runs(), key=lambda r: r.scheduled_time or "")
    assert [(r.scheduled_time, r.parameters, r.labels) for r in made] == [
        (at(2), {"n": 1}, ["gpu"]), (at(4), {"n": 1}, ["gpu"]), (at(5), {}, ["eu"])]
    times = [iso(t) for t in next_times(schedule.to_dict(), T0 + timedelta(minutes=5), 2)]
    assert backend.replace_scheduled_runs(version, sorted(times + [at(7)]), after=at(5)) == 3
    later = sorted(backend.list_runs(), key=lambda r: r.scheduled_time or "")[3:]
    assert [(r.scheduled_time, r.parameters, r.labels) for r in later] == [
        (at(6), {"n": 1}, ["gpu"]), (at(7), {}, ["eu"]), (at(8), {"n": 1}, ["gpu"])]
