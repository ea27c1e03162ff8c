"""Agents: claim due flow runs from the backend and launch each on a target, heartbeating while they run.

Every backend call happens on the agent's own thread, over one connection that is never shared
(SQLite connections must not cross threads; a PostgreSQL transaction must not interleave with
another thread's statements). A thread per run only waits on the target and hands its outcome back.

Lost runs: a run whose agent stopped heartbeating for `lost_after_seconds` becomes Lost, and any
agent on the same engine removes its container. Like Prefect Cloud's Lazarus, which resubmitted
runs whose agent vanished, a Lost run is scheduled once more (attempt + 1) while its attempt is at
most `lost_retries` (default 1: one retry); the retry's idempotency key is the lost run's id, so
however many agents see it Lost, it is retried once. The registered structure holds no task retry
settings, so the rule is the agent's, not the flow's.
"""
from __future__ import annotations

import os
import queue
import secrets
import signal
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .backend.base import Backend, FlowVersion
from .backend.runs import (CANCELLED, FAILED, LOST, RUNNING, SCHEDULED, SUBMITTED, SUCCESS, FlowRun, iso, now_iso,
                           parse_iso)
from .errors import FlowimgError
from .log import Log
from .running import run_labels, runtime_command
from .secrets import secret_environment
from .storage import from_dict
from .targets import Launch, Outcome, Target

# Claimed and not ended: what heartbeats keep alive.
LIVE = (SUBMITTED, RUNNING)
# How far apart reconnection attempts get while the backend is down.
MAX_BACKOFF_SECONDS = 5.0
# Scheduled runs read per poll to find when the next one is due, so the agent wakes for it on time.
UPCOMING_RUNS = 200

Result = Union[Outcome, str]  # what a run's thread hands back: the target's outcome, or why it could not start


def agent_name() -> str:
    """Unique per process, and says where the agent runs: recorded on every run it claims."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def container_name(run_id: str) -> str:
    """Derived from the run alone, so any agent can remove the container of a run whose agent died."""
    return f"flowimg-run-{run_id}"


def _quiet(_: str) -> None:
    return None


def _short(run: FlowRun) -> str:
    return f"Run {run.id[:8]} {run.project}/{run.flow} v{run.version}"


def _seconds_until(stamp: str) -> float:
    return (parse_iso(stamp) - datetime.now(timezone.utc)).total_seconds()


@dataclass(frozen=True)
class AgentSettings:
    target: str = "docker"
    labels: Tuple[str, ...] = ()
    limit: int = 10
    poll_seconds: float = 5.0
    heartbeat_seconds: float = 5.0
    lost_after_seconds: float = 30.0
    lost_retries: int = 1
    network: Optional[str] = None  # the target's default network (none on docker, host on swarm)

    @property
    def horizon_seconds(self) -> float:
        """How far ahead scheduled runs are made: several polls, so a short backend outage misses none."""
        return max(10.0, 10 * self.poll_seconds)

    def check(self) -> None:
        if self.limit < 1:
            raise FlowimgError(f"--limit {self.limit} would run nothing; give at least 1")
        if self.poll_seconds <= 0 or self.heartbeat_seconds <= 0:
            raise FlowimgError("--poll and --heartbeat take a number of seconds above 0, e.g. --poll 5")
        if self.lost_after_seconds < 2 * self.heartbeat_seconds:
            raise FlowimgError(
                f"--lost-after {self.lost_after_seconds:g} would mark healthy runs Lost between two heartbeats "
                f"({self.heartbeat_seconds:g} s apart); give at least {2 * self.heartbeat_seconds:g}, e.g. 3x --heartbeat")
        if self.lost_retries < 0:
            raise FlowimgError("--lost-retries takes 0 (never retry a Lost run) or more")

    def network_on(self, target: Target) -> str:
        network = self.network or target.networks[0]
        if network not in target.networks:
            raise FlowimgError(f"--network {network} is not possible on {target.name}; use "
                               f"{' or '.join(target.networks)}")
        return network


@dataclass
class _Active:
    """A run this agent launched, until its end is recorded in the backend."""

    run: FlowRun
    name: str
    result: Optional[Result] = None  # set when its thread is done
    stopped_by_agent: bool = False  # the agent was told to cancel it (second Ctrl-C)
    backend_state: Optional[str] = None  # Cancelled or Lost, seen in the backend while it ran


class Agent:
    def __init__(self, connect: Callable[[], Backend], target: Target, settings: AgentSettings,
                 log: Log = print, backend: Optional[Backend] = None, name: Optional[str] = None) -> None:
        self.connect, self.target, self.settings, self.log = connect, target, settings, log
        self.network = settings.network_on(target)
        self.name = name or agent_name()
        self.node = socket.gethostname()
        self.results: Dict[str, str] = {}  # run id -> the state it ended in, for --once's exit code
        self._backend = backend
        self._active: Dict[str, _Active] = {}
        self._done: "queue.Queue[Tuple[str, Result]]" = queue.Queue()
        self._wake = threading.Event()
        self._versions: Dict[str, FlowVersion] = {}
        self._stop_requests = 0
        self._failures = 0
        self._retry_at = 0.0
        self._next_poll = self._next_beat = 0.0
        self._backlog = False  # the last claim filled every free slot: claim again as soon as one frees
        self._exhausted = False  # --once: nothing more was due at the start

    # -- control ---------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """First call: claim nothing more and let running flows finish. Second: cancel them too."""
        self._stop_requests += 1
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop_requests > 0

    @property
    def aborting(self) -> bool:
        return self._stop_requests > 1

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM ask the agent to stop; only the main thread may install handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, lambda *_: self.request_stop())
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def run(self, once: bool = False) -> int:
        """Serve until stopped (or, with `once`, until what was due at the start has run).

        Returns 0 unless `once` ran a run that did not end in Success.
        """
        labels = ", ".join(self.settings.labels) or "none"
        self.log(f"Agent {self.name} on {self.target.name}, labels: {labels}, up to {self.settings.limit} runs "
                 f"at once, polling every {self.settings.poll_seconds:g} s")
        with self._signals():
            try:
                self._serve(once)
            except BaseException:
                self._abandon()
                raise
        return self._summary(once)

    def _serve(self, once: bool) -> None:
        cutoff = now_iso() if once else None
        announced = 0
        while True:
            if self._stop_requests > announced:
                announced = self._stop_requests
                self._announce_stop()
            self._collect()
            if self.aborting:
                self._cancel_all()
            if time.monotonic() >= self._retry_at:
                try:
                    self._cycle(cutoff)
                    self._failures = 0
                except FlowimgError as exc:
                    self._backend_failed(exc)
            finished = self.stopping or (once and self._exhausted)
            if finished and not self._active:
                return
            if self.aborting and self._failures and all(a.result is not None for a in self._active.values()):
                self.log(f"Warning: the end of {len(self._active)} run(s) could not be recorded; "
                         "the backend will show them Lost")
                return
            self._sleep()

    def _abandon(self) -> None:
        """On an unexpected error, stop this agent's containers before it exits: none is left running."""
        running = [a for a in self._active.values() if a.result is None]
        for active in running:
            try:
                self.target.cancel(active.name)
            except Exception:  # keep stopping the others; the original error is what gets reported
                pass
        deadline = time.monotonic() + 30
        while any(a.result is None for a in running) and time.monotonic() < deadline:
            self._wake.wait(0.2)
            self._collect()

    def _announce_stop(self) -> None:
        running = len(self._active)
        if self.aborting:
            self.log(f"Stopping now: cancelling {running} running run(s)")
        else:
            self.log(f"Stopping: claiming no more runs; waiting for {running} running run(s) "
                     "(Ctrl-C again cancels them)")

    def _summary(self, once: bool) -> int:
        counts: Dict[str, int] = {}
        for state in self.results.values():
            counts[state] = counts.get(state, 0) + 1
        text = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no runs"
        self.log(f"Agent {self.name} stopped: {text}")
        if once and any(state != SUCCESS for state in self.results.values()):
            return 1
        return 0

    def _sleep(self) -> None:
        """Until the next heartbeat, poll or reconnection attempt; a finished run or a signal wakes it early."""
        if self._failures:
            deadlines = [self._retry_at]
        else:
            deadlines = [self._next_beat]
            if not (self.stopping or self._exhausted) and len(self._active) < self.settings.limit:
                deadlines.append(self._next_poll)
        timeout = max(0.05, min(deadlines) - time.monotonic())
        self._wake.wait(timeout)
        self._wake.clear()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    # -- one pass over the backend -----------------------------------------------------------------
    def _db(self) -> Backend:
        if self._backend is None:
            self._backend = self.connect()
            if self._failures:
                self.log("Backend reachable again")
        return self._backend

    def _backend_failed(self, exc: FlowimgError) -> None:
        self._failures += 1
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** self._failures)
        self.log(f"Warning: {exc}; retrying in {delay:g} s")
        self._retry_at = time.monotonic() + delay
        if self._backend is not None:
            try:
                self._backend.close()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                pass
            self._backend = None

    def _cycle(self, cutoff: Optional[str]) -> None:
        db = self._db()
        recovering = self._failures > 0
        self._record(db)
        now = time.monotonic()
        if now >= self._next_beat or recovering:
            self._heartbeat(db)
            self._next_beat = now + self.settings.heartbeat_seconds
        if self.stopping:
            return
        if recovering:
            self._adopt(db)
        capacity = self.settings.limit - len(self._active)
        if capacity > 0 and (now >= self._next_poll or self._backlog or cutoff is not None) and not self._exhausted:
            self._poll(db, capacity, cutoff)

    def _poll(self, db: Backend, capacity: int, cutoff: Optional[str]) -> None:
        # Due runs first, so they start on time; then the bookkeeping that makes later ones.
        now = now_iso()
        claimed = db.claim_runs(agent=self.name, labels=list(self.settings.labels), limit=capacity,
                                now=cutoff or now)
        for run in claimed:
            self._start(db, run)
        self._backlog = len(claimed) == capacity
        db.ensure_scheduled(now=now_iso(), horizon_seconds=self.settings.horizon_seconds)
        stale = datetime.now(timezone.utc) - timedelta(seconds=self.settings.lost_after_seconds)
        self._handle_lost(db, db.mark_lost(stale_before=iso(stale)))
        if cutoff is not None and not self._backlog:
            self._exhausted = True
        self._next_poll = time.monotonic() + min(self.settings.poll_seconds, self._until_next_due(db, now))

    def _until_next_due(self, db: Backend, claimed_at: str) -> float:
        """Seconds until the next scheduled run this agent could take, so it is claimed on time."""
        labels = set(self.settings.labels)
        upcoming = [run.scheduled_time for run in db.list_runs(state=SCHEDULED, limit=UPCOMING_RUNS)
                    if run.scheduled_time and run.scheduled_time > claimed_at and set(run.labels) <= labels]
        if not upcoming:
            return self.settings.poll_seconds
        # A little past the time: the wall clock the claim compares with may trail the timer.
        return max(0.0, _seconds_until(min(upcoming))) + 0.005

    # -- starting runs -----------------------------------------------------------------------------
    def _version(self, db: Backend, run: FlowRun) -> FlowVersion:
        if run.version_id not in self._versions:
            self._versions[run.version_id] = db.get(run.project, run.flow, run.version)
        return self._versions[run.version_id]

    def _launch_for(self, db: Backend, run: FlowRun) -> Launch:
        version = self._version(db, run)
        storage = from_dict(version.storage)
        image = storage.run_image()
        if image is None:
            raise FlowimgError(
                f"flow '{run.flow}' is stored in {storage.describe()}, which has no image for an agent to run; "
                "give it Docker storage (flow.storage = Docker(...)) and register it again")
        return Launch(image=image, command=runtime_command(version, run.parameters), name=container_name(run.id),
                      secrets=secret_environment(storage.secret_names()), network=self.network,
                      labels=run_labels(version, run.id))

    def _start(self, db: Backend, run: FlowRun) -> None:
        try:
            launch = self._launch_for(db, run)
        except FlowimgError as exc:
            self.log(f"Error: {_short(run)}: {exc}")
            self._write_end(db, run, FAILED, None, [str(exc)], self.node)
            return
        started = db.update_run(run.id, expect=(SUBMITTED,), state=RUNNING, start_time=now_iso(),
                                node=self.node, image=launch.image, target=self.target.name)
        if started is None:
            self.log(f"{_short(run)}: cancelled before it started")
            return
        self._active[run.id] = _Active(started, launch.name)
        threading.Thread(target=self._watch, args=(run.id, launch), name=launch.name, daemon=True).start()
        when = f" (scheduled {run.scheduled_time})" if run.scheduled_time else ""
        self.log(f"{_short(run)}{when}: Running on {self.target.name}, attempt {run.attempt}")

    def _watch(self, run_id: str, launch: Launch) -> None:
        result: Result
        try:
            result = self.target.launch(launch, log=_quiet, out=_quiet)
        except FlowimgError as exc:
            result = str(exc)
        except Exception as exc:  # the run's record must end whatever the target raised
            result = f"unexpected {type(exc).__name__}: {exc}"
        self._done.put((run_id, result))
        self._wake.set()

    def _adopt(self, db: Backend) -> None:
        """Runs claimed by this agent whose claim reply was lost with the connection: start them now."""
        for run in db.list_runs(state=SUBMITTED, limit=UPCOMING_RUNS):
            if run.agent == self.name and run.id not in self._active:
                self._start(db, run)

    # -- running runs ------------------------------------------------------------------------------
    def _heartbeat(self, db: Backend) -> None:
        """Beat for every live run; one no longer Submitted/Running was cancelled or declared Lost."""
        now = now_iso()
        for active in self._active.values():
            if active.result is not None or active.backend_state is not None:
                continue
            if db.update_run(active.run.id, expect=LIVE, heartbeat=now) is None:
                active.backend_state = db.get_run(active.run.id).state
                self.log(f"{_short(active.run)}: {active.backend_state} in the backend; stopping its container")
                self._in_background(self.target.cancel, active.name)

    def _cancel_all(self) -> None:
        for active in self._active.values():
            if active.result is None and not active.stopped_by_agent:
                active.stopped_by_agent = True
                self._in_background(self.target.cancel, active.name)

    def _in_background(self, action: Callable[[str], object], name: str) -> None:
        """Stopping a container can take the engine's whole stop timeout: never on the agent's thread."""
        def attempt() -> None:
            try:
                action(name)
            except FlowimgError as exc:
                self.log(f"Warning: {exc}")

        threading.Thread(target=attempt, name=f"stop-{name}", daemon=True).start()

    def _handle_lost(self, db: Backend, lost: Sequence[FlowRun]) -> None:
        for run in lost:
            self.log(f"{_short(run)}: Lost (no heartbeat from agent {run.agent or '?'} since {run.heartbeat})")
            active = self._active.get(run.id)
            if active is not None:  # this agent's own run, silent too long: never let it run beside a retry
                active.backend_state = LOST
                self._in_background(self.target.cancel, active.name)
            else:
                self._in_background(self.target.discard, container_name(run.id))
            if run.attempt <= self.settings.lost_retries:
                retry = db.create_run(self._version(db, run), parameters=run.parameters, state=SCHEDULED,
                                      scheduled_time=now_iso(), target=run.target, attempt=run.attempt + 1,
                                      idempotency_key=f"retry:{run.id}")
                self.log(f"{_short(run)}: retried as run {retry.id[:8]} (attempt {retry.attempt})")

    # -- finishing runs ----------------------------------------------------------------------------
    def _collect(self) -> None:
        while True:
            try:
                run_id, result = self._done.get_nowait()
            except queue.Empty:
                return
            self._active[run_id].result = result

    def _record(self, db: Backend) -> None:
        for run_id, active in list(self._active.items()):
            if active.result is not None:
                self._finish(db, active, active.result)
                del self._active[run_id]

    def _finish(self, db: Backend, active: _Active, result: Result) -> None:
        run = active.run
        if isinstance(result, str):
            self.log(f"Error: {_short(run)}: {result}")
            self._write_end(db, run, FAILED, None, [result], self.node)
            return
        if active.stopped_by_agent:
            state = CANCELLED
        else:
            state = SUCCESS if result.exit_code == 0 else FAILED
        self._write_end(db, run, state, result.exit_code, list(result.log_tail), result.node)

    def _write_end(self, db: Backend, run: FlowRun, state: str, exit_code: Optional[int], log_tail: List[str],
                   node: str) -> None:
        """The end state, unless the backend already holds one (cancelled or Lost meanwhile): then
        only what the run left (exit code, log tail) is added to that record."""
        details = {"exit_code": exit_code, "log_tail": log_tail, "node": node}
        ended = db.update_run(run.id, expect=LIVE, state=state, end_time=now_iso(), **details)
        if ended is None:
            ended = db.get_run(run.id)
            db.update_run(run.id, expect=(ended.state,), **details)
        self.results[run.id] = ended.state
        code = "" if exit_code is None else f" (exit {exit_code})"
        self.log(f"{_short(run)}: {ended.state}{code}")


def serve(backend_url: Optional[str], settings: AgentSettings, once: bool = False, log: Log = print) -> int:
    """`flowimg agent`: everything that can be wrong before the first poll is one error, exit 1."""
    from .backend import open_backend
    from .targets import get_target

    settings.check()
    target = get_target(settings.target)
    settings.network_on(target)
    backend = open_backend(backend_url)
    agent = Agent(lambda: open_backend(backend_url), target, settings, log=log, backend=backend)
    try:
        return agent.run(once=once)
    finally:
        agent.close()
