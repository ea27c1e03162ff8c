"""Agent figures, each against a baseline measured in the same run:

- claiming 1,000 due runs on PostgreSQL (one `claim_runs`, and in batches of 10 as an agent with
  `--limit 10` does) against a plain SELECT of the same rows;
- due -> container started on the docker target (an agent serving a scheduled flow) against the
  `docker run` CLI starting a container of the same image, both read from the engine's start events.

    python bench/run.py --agent-only      (a section of bench/run.py)
"""
from __future__ import annotations

import os
import statistics
import subprocess
import textwrap
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List

CLAIMED = 1000
BATCH = 10


def _due_runs(db, version, count: int, offset_s: int) -> None:
    """`count` Scheduled runs already due (distinct past slots), made in one transaction."""
    from flowimg.backend.runs import iso

    start = datetime.now(timezone.utc) - timedelta(hours=1, seconds=offset_s)
    times = [iso(start + timedelta(milliseconds=i)) for i in range(count)]
    assert db.replace_scheduled_runs(version, times, after=iso(start + timedelta(hours=2))) == count


def bench_claim(url: str, rounds: int) -> Dict[str, float]:
    import psycopg

    from flowimg.backend import open_backend
    from flowimg.backend.runs import RUN_COLUMNS, now_iso

    with open_backend(url) as db, psycopg.connect(url, autocommit=True) as plain:
        version, _ = db.register("ClaimBench", "claim", structure={"tasks": [], "edges": []}, structure_hash="s",
                                 storage={"kind": "Local", "stored_as_script": False, "settings": {}}, labels=[],
                                 parameters={}, metadata_hash="m")
        select_s, claim_s, batched_s = [], [], []
        for i in range(rounds):
            _due_runs(db, version, CLAIMED, 10 * i)
            started = time.perf_counter()
            rows = plain.execute(f"SELECT {RUN_COLUMNS} FROM flow_runs WHERE state = 'Scheduled' "
                                 "AND scheduled_time <= %s ORDER BY scheduled_time LIMIT %s",
                                 (now_iso(), CLAIMED)).fetchall()
            select_s.append(time.perf_counter() - started)
            assert len(rows) == CLAIMED
            started = time.perf_counter()
            claimed = db.claim_runs(agent="bench", labels=[], limit=CLAIMED, now=now_iso())
            claim_s.append(time.perf_counter() - started)
            assert len(claimed) == CLAIMED
            _due_runs(db, version, CLAIMED, 10 * i + 5)
            started = time.perf_counter()
            total = 0
            while total < CLAIMED:
                total += len(db.claim_runs(agent="bench", labels=[], limit=BATCH, now=now_iso()))
            batched_s.append(time.perf_counter() - started)
        plain.execute("DELETE FROM flow_runs")
    select, claim, batched = (statistics.median(x) for x in (select_s, claim_s, batched_s))
    return {"claim1000_postgresql_s": claim, "select1000_postgresql_s": select, "claim1000_vs_select_ratio": claim / select,
            "claim1000_in_batches_of_10_s": batched}


class StartEvents:
    """The engine's container start events (daemon time) by container name, from `docker events`."""

    def __init__(self, docker: str) -> None:
        self.proc = subprocess.Popen([docker, "events", "--filter", "type=container", "--filter", "event=start",
                                      "--format", "{{.TimeNano}} {{.Actor.Attributes.name}}"],
                                     stdout=subprocess.PIPE, text=True)
        self.started: Dict[str, float] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            nanos, name = line.split()
            self.started[name] = int(nanos) / 1e9

    def wait_for(self, name: str, seconds: float = 60) -> float:
        deadline = time.monotonic() + seconds
        while name not in self.started:
            if time.monotonic() > deadline:
                raise SystemExit(f"benchmark: container {name} never started")
            time.sleep(0.01)
        return self.started[name]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def bench_due_to_start(work: Path, url: str, rounds: int, docker: str, registry: str, base_image: str,
                       flowimg: str) -> Dict[str, float]:
    from cli_helpers import seed_flow

    from flowimg.agent import Agent, AgentSettings, container_name
    from flowimg.backend import open_backend
    from flowimg.backend.runs import parse_iso
    from flowimg.running import runtime_command
    from flowimg.storage import from_dict
    from flowimg.targets import get_target

    name = f"bench-agent-{uuid.uuid4().hex[:8]}"
    script = work / "agent_flow.py"
    storage = textwrap.dedent(f"""
        flow.schedule = IntervalSchedule(interval=timedelta(seconds=3))
        flow.storage = Docker(path="/opt/flows/f.py", files={{{str(script)!r}: "/opt/flows/f.py"}},
                              stored_as_script=True, registry_url={registry!r}, image_name={name!r},
                              base_image={base_image!r})
    """)
    imports = "from datetime import timedelta\nfrom flowimg.schedules import IntervalSchedule\nfrom flowimg.storage import Docker"
    script.write_text(seed_flow(imports=imports, storage=storage))
    env = {"FLOWIMG_BACKEND": url}
    subprocess.run([flowimg, "register", "-p", str(script), "--project", "AgentBench", "--pin"], check=True,
                   capture_output=True, env={**os.environ, **env})
    events = StartEvents(docker)
    try:
        # Baseline: the docker CLI starting the same image with the same arguments.
        with open_backend(url) as db:
            version = db.get("AgentBench", "example")
        image = from_dict(version.storage).run_image() or ""
        cli_s: List[float] = []
        for _ in range(rounds):
            cname = f"bench-cli-{uuid.uuid4().hex[:8]}"
            invoked = time.time()
            subprocess.run([docker, "run", "--rm", "--network", "none", "--name", cname, image,
                            *runtime_command(version, {})], check=True, capture_output=True)
            cli_s.append(events.wait_for(cname) - invoked)
        # The agent: scheduled runs every 3 s; each is measured from its scheduled time.
        settings = AgentSettings(target="docker", poll_seconds=5, heartbeat_seconds=5)
        agent = Agent(lambda: open_backend(url), get_target("docker"), settings, log=lambda _: None)
        serving = threading.Thread(target=agent.run, daemon=True)
        serving.start()
        # Slots made at registration that fell due before the agent started would count their lateness.
        from flowimg.backend.runs import iso

        first_slot = iso(datetime.now(timezone.utc) + timedelta(seconds=1))
        agent_s: List[float] = []
        seen: set = set()
        while len(agent_s) < rounds:
            time.sleep(0.5)
            with open_backend(url) as db:
                done = [r for r in db.list_runs(project="AgentBench", limit=100)
                        if r.state == "Success" and r.id not in seen and (r.scheduled_time or "") > first_slot]
            for run in done:
                seen.add(run.id)
                agent_s.append(events.wait_for(container_name(run.id)) - parse_iso(run.scheduled_time).timestamp())
        agent.request_stop()
        serving.join(60)
        agent.close()
    finally:
        events.close()
        subprocess.run([docker, "image", "rm", "-f", f"{registry}/{name}:latest"], capture_output=True)
    ours, theirs = statistics.median(agent_s), statistics.median(cli_s)
    return {"agent_due_to_container_start_s": ours, "docker_run_to_container_start_s": theirs,
            "agent_start_vs_docker_run_ratio": ours / theirs}
