"""`flowimg agent` as a new user runs it: the seed flow in its image, registered with a schedule, run by
agents (separate processes) on PostgreSQL or SQLite and the real engine; killed agents, a stopped
database, cancellation and Ctrl-C. Runs are read back from the backend they were recorded in."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

from cli_helpers import FLOWIMG, one_line_error, run_bounded, seed_flow
from docker_service import BASE_IMAGE, REGISTRY, docker
from ports import free_port

from flowimg.backend import open_backend
from flowimg.backend.runs import FlowRun, now_iso

pytestmark = pytest.mark.usefixtures("no_new_containers")

# Short intervals keep the suite fast: an agent heartbeats every 0.5 s and looks for runs every second.
FAST = ("--poll", "1", "--heartbeat", "0.5")
SEED_OUTPUT = "[1, 2, 3, 4, 5]"


def flow_script(folder: Path, image_name: str, *, printed: str = "data", every: Optional[int] = None) -> Path:
    """The seed flow in Docker storage, optionally on an IntervalSchedule of `every` seconds."""
    script = folder / "flows" / "my_flow.py"
    script.parent.mkdir(exist_ok=True)
    schedule = f"flow.schedule = IntervalSchedule(interval=timedelta(seconds={every}))\n" if every else ""
    storage = (f"{schedule}flow.storage = Docker(path='/opt/flows/my_flow.py', files={{{str(script)!r}: "
               f"'/opt/flows/my_flow.py'}}, stored_as_script=True, registry_url={REGISTRY!r}, "
               f"image_name={image_name!r}, base_image={BASE_IMAGE!r})\n")
    imports = ("from datetime import timedelta\nfrom flowimg.schedules import IntervalSchedule\n"
               "from flowimg.storage import Docker")
    script.write_text(seed_flow(printed=printed, imports=imports, storage=storage))
    return script


def register(cli, script: Path, url: Optional[str], *extra: str) -> None:
    env = {"FLOWIMG_BACKEND": url} if url else {}
    cli("register", "-p", str(script), "--project", "Agents", "--pin", *extra, env=env)


def runs(url: Optional[str]) -> List[FlowRun]:
    with open_backend(url) as db:
        return db.list_runs(limit=1000)


def due_run(url: Optional[str], flow: str = "example") -> FlowRun:
    """A run due now, as `flowimg runs` would show one made by a schedule."""
    with open_backend(url) as db:
        return db.create_run(db.get("Agents", flow), parameters={}, state="Scheduled", scheduled_time=now_iso())


def wait_until(what: str, check: Callable[[], object], seconds: float = 30) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def seconds_between(earlier: str, later: str) -> float:
    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)

    return (parse(later) - parse(earlier)).total_seconds()


class AgentProcess:
    """`flowimg agent --on docker ...` in the background, its stderr collected line by line."""

    def __init__(self, cwd: Path, url: Optional[str], args: List[str]) -> None:
        env = {**os.environ, **({"FLOWIMG_BACKEND": url} if url else {})}
        self.proc = subprocess.Popen([FLOWIMG, "agent", "--on", "docker", *args], cwd=cwd, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = wait_until("the agent to start", lambda: self.lines or self.proc.poll() is not None, 30)
        assert first and self.lines and self.lines[0].startswith("Agent "), self.output
        self.name = self.lines[0].split()[1]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, seconds: float = 60) -> int:
        code = self.proc.wait(timeout=seconds)
        self._reader.join(timeout=5)
        return code


@pytest.fixture
def agents(tmp_path) -> Iterator[Callable[..., AgentProcess]]:
    """Starts agents; any still running at the end are killed and their runs' containers removed."""
    started: List[AgentProcess] = []

    def start(url: Optional[str], *args: str) -> AgentProcess:
        agent = AgentProcess(tmp_path, url, list(args))
        started.append(agent)
        return agent

    yield start
    leftovers = [agent for agent in started if agent.proc.poll() is None]
    for agent in leftovers:
        agent.proc.kill()
        agent.finish()
    if leftovers:
        ids = docker("ps", "-aq", "--filter", "label=org.flowimg.run-id").stdout.split()
        if ids:
            docker("rm", "-f", *ids, check=False)


def assert_each_slot_ran_once(all_runs: List[FlowRun], every: float) -> List[FlowRun]:
    """Scheduled slots are unique, and every slot from the first to the last that ran, ran."""
    slots = [r.scheduled_time for r in all_runs if r.attempt == 1]
    assert len(slots) == len(set(slots)), "a scheduled slot exists twice"
    ran = sorted((r for r in all_runs if r.attempt == 1 and r.state != "Scheduled"), key=lambda r: r.scheduled_time)
    for before, after in zip(ran, ran[1:]):
        assert seconds_between(before.scheduled_time, after.scheduled_time) == every, "a slot was skipped"
    return ran


def assert_started_once(ran: List[FlowRun], *started_by: AgentProcess) -> None:
    """Each run started once, by one agent, however many agents saw it due."""
    starts = [line.split()[1] for agent in started_by for line in agent.lines if ": Running on docker" in line]
    assert sorted(starts) == sorted(r.id[:8] for r in ran)


def test_two_agents_on_postgresql_run_every_slot_of_a_2s_schedule_once(cli, tmp_path, image_name,
                                                                        postgres_database_url, agents):
    url = postgres_database_url
    register(cli, flow_script(tmp_path, image_name, every=2), url)
    first, second = agents(url, *FAST), agents(url, *FAST)
    window_start = now_iso()
    time.sleep(20)
    window_end = now_iso()
    for agent in (first, second):
        agent.signal(signal.SIGINT)
    assert first.finish() == 0 and second.finish() == 0, first.output + second.output
    all_runs = runs(url)
    ran = assert_each_slot_ran_once(all_runs, 2)
    # About 10 in 20 s (the last may fall due just as the agents stop; slots from before they started ran too).
    in_window = [r for r in ran if window_start < r.scheduled_time <= window_end]
    assert 9 <= len(in_window) <= 11, [(r.scheduled_time, r.state) for r in ran]
    assert {r.state for r in ran} == {"Success"}, [(r.id, r.state, r.log_tail) for r in ran]
    assert {r.agent for r in ran} <= {first.name, second.name}
    for run in ran:
        assert run.exit_code == 0 and SEED_OUTPUT in run.log_tail
        assert run.image.startswith(f"{REGISTRY}/{image_name}@sha256:"), run.image  # by digest (--pin)
        assert run.scheduled_time <= run.start_time <= run.end_time
    assert_started_once(ran, first, second)
    listing = cli("runs", "list", "--project", "Agents", env={"FLOWIMG_BACKEND": url}).stdout
    lines = {line.split()[0]: line for line in listing.splitlines()}
    for run in ran:
        assert "Agents/example  v1  Success" in lines[run.id[:8]] and "docker  exit 0" in lines[run.id[:8]]


def test_a_killed_agents_run_ends_lost_is_retried_once_and_the_other_agent_carries_on(
        cli, tmp_path, image_name, postgres_database_url, agents):
    url = postgres_database_url
    register(cli, flow_script(tmp_path, image_name, every=2, printed="data, __import__('time').sleep(3)"), url)
    doomed = agents(url, *FAST, "--lost-after", "2")
    wait_until("a run of the first agent", lambda: any(r.agent == doomed.name and r.state == "Running"
                                                      for r in runs(url)))
    survivor = agents(url, *FAST, "--lost-after", "2")
    doomed.proc.kill()
    doomed.finish()
    orphaned = [r for r in runs(url) if r.agent == doomed.name and r.state in ("Submitted", "Running")]
    assert orphaned
    killed_at = now_iso()

    def settled() -> bool:
        by_key = {r.idempotency_key: r for r in runs(url)}
        return all(by_key.get(f"retry:{r.id}") is not None and by_key[f"retry:{r.id}"].state == "Success"
                   for r in orphaned)

    wait_until("the lost runs' retries to succeed", settled, 40)
    wait_until("a later slot run by the survivor", lambda: any(
        r.agent == survivor.name and r.state == "Success" and r.attempt == 1 and r.scheduled_time > killed_at
        for r in runs(url)), 20)
    survivor.signal(signal.SIGTERM)  # SIGTERM stops an agent like Ctrl-C: running flows finish first
    assert survivor.finish() == 0, survivor.output
    all_runs = runs(url)
    by_id = {r.id: r for r in all_runs}
    for run in orphaned:
        assert by_id[run.id].state == "Lost" and by_id[run.id].end_time
        retries = [r for r in all_runs if r.idempotency_key == f"retry:{run.id}"]
        assert len(retries) == 1 and retries[0].attempt == 2 and retries[0].agent == survivor.name
        assert f"Run {run.id[:8]} Agents/example v1: Lost" in survivor.output
    assert not any(r.attempt > 2 for r in all_runs)
    assert not docker("ps", "-aq", "--filter", f"name=flowimg-run-{orphaned[0].id}").stdout.strip()
    assert {r.state for r in all_runs if r.agent == survivor.name} == {"Success"}, survivor.output


def test_agents_ride_out_a_stopped_postgresql_and_catch_up(cli, tmp_path, image_name, own_postgres_server, agents):
    url = own_postgres_server.url()
    register(cli, flow_script(tmp_path, image_name, every=2), url)
    pair = [agents(url, *FAST, "--lost-after", "20") for _ in range(2)]
    wait_until("a first run", lambda: any(r.state == "Success" for r in runs(url)))
    stopped_at = now_iso()
    own_postgres_server.stop()
    time.sleep(5)
    assert own_postgres_server.start().returncode == 0
    recovered_at = now_iso()
    wait_until("runs after the outage", lambda: sum(r.state == "Success" and r.scheduled_time > recovered_at
                                                   for r in runs(url)) >= 2)
    for agent in pair:
        agent.signal(signal.SIGINT)
    for agent in pair:
        assert agent.finish() == 0, agent.output
    all_runs = runs(url)
    ran = assert_each_slot_ran_once(all_runs, 2)
    assert {r.state for r in ran} == {"Success"}, [(r.scheduled_time, r.state, r.log_tail) for r in ran]
    assert_started_once(ran, *pair)
    # The slots that fell due while the database was down ran once it was back.
    missed = [r for r in ran if stopped_at < r.scheduled_time < recovered_at]
    assert len(missed) >= 2 and all(r.start_time >= recovered_at for r in missed), missed
    output = "\n".join(agent.output for agent in pair)
    assert "Warning:" in output and "retrying in" in output and "Backend reachable again" in output
    assert own_postgres_server.password not in output


def test_labels_and_once_on_sqlite(cli, tmp_path, image_name, flowimg_home):
    register(cli, flow_script(tmp_path, image_name), None, "--label", "gpu")
    run = due_run(None)
    unlabelled = run_bounded(tmp_path, "agent", "--on", "docker", "--once", "--label", "cpu")
    assert unlabelled.returncode == 0 and "no runs" in unlabelled.stderr, unlabelled.stderr
    assert runs(None)[0].state == "Scheduled"
    matching = run_bounded(tmp_path, "agent", "--on", "docker", "--once", "--label", "cpu", "--label", "gpu")
    assert matching.returncode == 0, matching.stderr
    done = runs(None)[0]
    assert (done.id, done.state, done.exit_code, done.labels) == (run.id, "Success", 0, ["gpu"])
    assert SEED_OUTPUT in done.log_tail and "1 Success" in matching.stderr


def test_once_exits_1_for_a_failing_flow_and_records_its_log(cli, tmp_path, image_name, flowimg_home):
    register(cli, flow_script(tmp_path, image_name, printed="data[0] / 0"), None)
    due_run(None)
    result = run_bounded(tmp_path, "agent", "--on", "docker", "--once")
    assert result.returncode == 1, result.stderr
    failed = runs(None)[0]
    assert failed.state == "Failed" and failed.exit_code == 1
    assert any("ZeroDivisionError" in line for line in failed.log_tail), failed.log_tail
    assert "Agents/example v1: Failed (exit 1)" in result.stderr


def test_a_flow_without_an_image_is_one_error_line_and_a_failed_run(cli, tmp_path, flowimg_home):
    script = tmp_path / "local_flow.py"
    script.write_text(seed_flow())
    cli("register", "-p", str(script), "--project", "Agents")
    due_run(None)
    line = one_line_error(run_bounded(tmp_path, "agent", "--on", "docker", "--once"))
    assert "stored in Local" in line and "Docker storage" in line
    failed = runs(None)[0]
    assert failed.state == "Failed" and "Docker storage" in failed.log_tail[0]


def test_a_run_cancelled_in_the_backend_stops_its_container(cli, tmp_path, image_name, flowimg_home, agents):
    register(cli, flow_script(tmp_path, image_name, printed="__import__('time').sleep(60)"), None)
    run = due_run(None)
    agent = agents(None, *FAST, "--once")
    wait_until("the run's container", lambda: docker("ps", "-q", "--filter", f"name=flowimg-run-{run.id}").stdout.strip())
    time.sleep(2)  # past the runtime's start-up, so the flow is running when it is cancelled
    cli("runs", "cancel", run.id)
    assert agent.finish(30) == 1, agent.output  # --once: a run that did not succeed
    cancelled = runs(None)[0]
    assert cancelled.state == "Cancelled" and cancelled.exit_code == 143, cancelled  # SIGTERM ended it at once
    assert "Cancelled in the backend; stopping its container" in agent.output


def test_ctrl_c_waits_for_running_flows_and_twice_cancels_them(cli, tmp_path, image_name, flowimg_home, agents):
    register(cli, flow_script(tmp_path, image_name, printed="__import__('time').sleep(60)"), None)
    due_run(None)
    agent = agents(None, *FAST)
    wait_until("the run to start", lambda: runs(None)[0].state == "Running")
    agent.signal(signal.SIGINT)
    wait_until("the agent to say it is stopping", lambda: "Ctrl-C again cancels them" in agent.output, 10)
    due_run(None)
    time.sleep(2)
    assert agent.proc.poll() is None and [r.state for r in runs(None)] == ["Scheduled", "Running"]
    agent.signal(signal.SIGINT)
    assert agent.finish(30) == 0, agent.output
    assert [r.state for r in runs(None)] == ["Scheduled", "Cancelled"]


@pytest.mark.parametrize("args, message", [
    (["--on", "mars"], "unknown target 'mars'; use one of: docker, swarm"),
    (["--on", "docker", "--limit", "0"], "--limit 0 would run nothing"),
    (["--on", "docker", "--heartbeat", "5", "--lost-after", "6"], "give at least 10"),
    (["--on", "docker", "--network", "bridge"], "--network bridge is not possible on docker; use none or host"),
    (["--on", "swarm", "--network", "none"], "--network none is not possible on swarm; use host"),
])
def test_bad_agent_options_are_one_line(tmp_path, args, message):
    line = one_line_error(run_bounded(tmp_path, "agent", *args, "--once"))
    assert message in line


def test_an_agent_without_a_reachable_backend_is_one_line(tmp_path):
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/flowimg"
    line = one_line_error(run_bounded(tmp_path, "agent", "--on", "docker", "--backend", url))
    assert "cannot connect" in line and "check FLOWIMG_BACKEND or --backend" in line
