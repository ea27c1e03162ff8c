"""`flowimg run` records its runs; `flowimg runs list/show/cancel` read and change them (real CLI,
SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
from dataclasses import asdict, replace

import pytest

from cli_helpers import FLOWIMG, one_line_error, seed_flow
from flowimg.backend import open_backend
from flowimg.backend.runs import FlowRun
from flowimg.runs_view import run_details, runs_text

SECRET_FLOW = '''
from flowimg import task, Flow
from flowimg.tasks.secrets import PrefectSecret

@task
def leak(token):
    for i in range(60):
        print("line", i)
    print("the token is", token)
    raise ValueError("failed with " + token)

with Flow("leaky") as flow:
    leak(PrefectSecret("API_TOKEN"))
'''
SLOW_FLOW = '''
import time
from flowimg import task, Flow

@task
def slow():
    time.sleep(60)

with Flow("slow") as flow:
    slow()
'''
TOKEN = "tok-4f9a2c7e1b"



def only_run(url: str) -> FlowRun:
    with open_backend(url) as db:
        runs = db.list_runs()
    assert len(runs) == 1, runs
    return runs[0]


def test_a_local_run_is_recorded_with_its_output(cli, tmp_path, registry_url):
    (tmp_path / "f.py").write_text(seed_flow())
    cli("register", "-p", "f.py", "--project", "P")
    result = cli("run", "example", "--project", "P")
    run = only_run(registry_url)
    assert f"Flow run {run.id}\n" in result.stderr
    assert (run.state, run.target, run.exit_code, run.node, run.image) == ("Success", "local", 0, socket.gethostname(), "")
    assert (run.project, run.flow, run.version, run.parameters, run.attempt) == ("P", "example", 1, {}, 1)
    assert run.start_time and run.end_time and run.start_time <= run.end_time and run.scheduled_time is None
    assert "[1, 2, 3, 4, 5]" in run.log_tail and run.log_tail[-1] == "Flow 'example': Success"
    assert any("Task 'get_data': Starting task run..." in line for line in run.log_tail)


def test_a_failing_run_keeps_the_last_50_lines_without_secrets(cli, tmp_path, registry_url, monkeypatch):
    monkeypatch.setenv("FLOWIMG__CONTEXT__SECRETS__API_TOKEN", TOKEN)
    (tmp_path / "leaky.py").write_text(SECRET_FLOW)
    cli("register", "-p", "leaky.py", "--project", "P")
    result = cli("run", "leaky", "--project", "P", ok=False)
    assert result.returncode == 1
    run = only_run(registry_url)
    assert (run.state, run.exit_code) == ("Failed", 1)
    assert len(run.log_tail) == 50
    assert "the token is ***" in run.log_tail and "line 59" in run.log_tail
    assert TOKEN not in json.dumps(asdict(run))
    shown = cli("runs", "show", run.id[:10])
    assert TOKEN not in shown.stdout and "  the token is ***\n" in shown.stdout


@pytest.mark.parametrize("number, code", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_an_interrupted_run_ends_cancelled(tmp_path, cli, registry_url, number, code):
    (tmp_path / "slow.py").write_text(SLOW_FLOW)
    cli("register", "-p", "slow.py", "--project", "P")
    proc = subprocess.Popen([FLOWIMG, "run", "slow", "--project", "P"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Task 'slow': Starting task run" in line:
                break
        with open_backend(registry_url) as db:
            assert db.list_runs()[0].state == "Running", "\n".join(db.list_runs()[0].log_tail)
        proc.send_signal(number)
        proc.wait(30)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == code
    run = only_run(registry_url)
    assert run.state == "Cancelled" and run.end_time and run.exit_code is None


def test_runs_list_filters_and_cancel(cli, tmp_path, registry_url):
    (tmp_path / "f.py").write_text(seed_flow() + seed_flow(name="other").replace("as flow:", "as other:"))
    cli("register", "-p", "f.py", "--project", "P")
    cli("run", "example", "--project", "P")
    with open_backend(registry_url) as db:
        waiting = db.create_run(db.get("P", "other"), parameters={}, scheduled_time="2099-01-01T00:00:00.000000Z")
        finished = db.list_runs(flow="example")[0]
    listed = cli("runs", "list").stdout.splitlines()
    assert len(listed) == 2
    assert listed[0].startswith(f"{waiting.id[:8]}  P/other  v1  Scheduled  scheduled 2099-01-01 00:00:00  "
                                "started -  ended -  -  exit -")
    assert listed[1].startswith(f"{finished.id[:8]}  P/example  v1  Success  ")
    assert listed[1].endswith("  local  exit 0")
    assert cli("runs", "list", "--state", "scheduled").stdout.splitlines() == listed[:1]
    assert cli("runs", "list", "--flow", "example", "--limit", "1").stdout.splitlines() == listed[1:]
    assert cli("runs", "list", "--project", "Q").stdout == "No flow runs.\n"
    data = json.loads(cli("runs", "list", "--json").stdout)
    assert [d["id"] for d in data] == [waiting.id, finished.id] and data[1]["log_tail"] == finished.log_tail
    assert json.loads(cli("runs", "show", finished.id, "--json").stdout) == asdict(finished)
    assert cli("runs", "cancel", waiting.id[:8]).stdout == f"Cancelled flow run {waiting.id} (P/other version 1)\n"
    assert cli("runs", "list", "--state", "Cancelled", "--json").stdout.count(waiting.id) == 1


def test_bad_run_input_is_one_line_each(cli, tmp_path, registry_url):
    (tmp_path / "f.py").write_text(seed_flow())
    cli("register", "-p", "f.py", "--project", "P")
    cli("run", "example", "--project", "P")
    done = only_run(registry_url)
    assert one_line_error(cli("runs", "show", "deadbeef", ok=False)).startswith(
        "Error: no flow run 'deadbeef' in the registry (")
    assert one_line_error(cli("runs", "list", "--state", "Done", ok=False)) == (
        "Error: unknown run state 'Done'; use one of Scheduled, Submitted, Running, Success, Failed, Cancelled, Lost")
    assert one_line_error(cli("runs", "cancel", done.id, ok=False)) == (
        f"Error: flow run {done.id} already ended (Success); only Scheduled, Submitted, Running runs can be "
        "cancelled: pick one from `flowimg runs list --state Running`")
    assert one_line_error(cli("runs", "list", "--limit", "0", ok=False)) == (
        "Error: --limit 0 shows nothing; give a number from 1")
    assert "has no parameter n" in one_line_error(cli("run", "example", "--project", "P", "--param", "n=1", ok=False))
    assert only_run(registry_url) == done


GOLDEN_RUN = FlowRun(
    id="3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b", version_id="v-1", project="Data", flow="nightly", version=3,
    parameters={"n": 2}, state="Failed", scheduled_time="2026-11-27T03:00:00.000000Z",
    start_time="2026-11-27T03:00:01.250000Z", end_time="2026-11-27T03:00:09.999999Z", target="docker",
    image="localhost:5000/nightly@sha256:ab12", node="vm", exit_code=1, log_tail=["step 1", "Error: boom"],
    agent="agent-1", heartbeat="2026-11-27T03:00:09.000000Z", attempt=2, labels=["eu", "gpu"],
    created_at="2026-11-27T02:50:00.000000Z", idempotency_key="k")


def test_runs_list_golden_text():
    manual = replace(GOLDEN_RUN, id="0b1c2d3e-0000-4000-8000-000000000000", flow="adhoc", version=1, state="Running",
                     scheduled_time=None, end_time=None, target="local", exit_code=None, log_tail=[])
    assert runs_text([GOLDEN_RUN, manual]) == (
        "3f2a9c1e  Data/nightly  v3  Failed     scheduled 2026-11-27 03:00:00  started 2026-11-27 03:00:01  "
        "ended 2026-11-27 03:00:09  docker  exit 1\n"
        "0b1c2d3e  Data/adhoc  v1  Running    scheduled -  started 2026-11-27 03:00:01  ended -  local  exit -\n"
    )
    assert runs_text([]) == "No flow runs.\n"


def test_runs_show_golden_text():
    assert run_details(GOLDEN_RUN) == """\
Run:        3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b
Flow:       Data/nightly
Version:    3 (v-1)
State:      Failed
Attempt:    2
Parameters: {"n": 2}
Scheduled:  2026-11-27T03:00:00.000000Z
Started:    2026-11-27T03:00:01.250000Z
Ended:      2026-11-27T03:00:09.999999Z
Target:     docker
Image:      localhost:5000/nightly@sha256:ab12
Node:       vm
Agent:      agent-1
Heartbeat:  2026-11-27T03:00:09.000000Z
Exit code:  1
Labels:     eu, gpu
Created:    2026-11-27T02:50:00.000000Z
Log tail (2 lines):
  step 1
  Error: boom
"""


