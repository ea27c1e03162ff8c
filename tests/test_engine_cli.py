"""The engine through the CLI: loading never runs a flow, a failed flow state fails `flowimg run`."""
from __future__ import annotations

import subprocess
import sys

SIDE_EFFECT = '''
from flowimg import Flow, task

@task
def write(path):
    with open(path, "a") as fh:
        fh.write("ran\\n")

@task
def check(_, should_fail):
    if should_fail:
        raise ValueError("bad rows")
    print("checked")

with Flow("etl") as flow:
    done = write({marker!r})
    check(done, {fail})

flow.run()
'''


def write_script(tmp_path, fail=False):
    marker = tmp_path / "runs.txt"
    script = tmp_path / "etl.py"
    script.write_text(SIDE_EFFECT.format(marker=str(marker), fail=fail))
    return script, marker


def runs(marker):
    return marker.read_text().count("ran") if marker.exists() else 0


def test_register_and_run_never_run_the_flow_while_loading(cli, tmp_path):
    script, marker = write_script(tmp_path)
    cli("register", "-p", str(script), "--project", "P")
    assert runs(marker) == 0
    result = cli("run", "etl", "--project", "P")
    assert runs(marker) == 1
    assert result.stdout.strip() == "checked"
    assert "Task 'check': Finished task run for task with final state: 'Success'" in result.stderr


def test_python_flow_py_still_runs_the_flow(tmp_path):
    script, marker = write_script(tmp_path)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert runs(marker) == 1
    assert "INFO - flowimg.TaskRunner | Task 'write': Starting task run..." in result.stdout


def test_a_failed_flow_state_exits_1_naming_the_failed_task(cli, tmp_path):
    script, marker = write_script(tmp_path, fail=True)
    cli("register", "-p", str(script), "--project", "P")
    result = cli("run", "etl", "--project", "P", ok=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == result.stderr.splitlines()[-1:] == [
        "Error: flow 'etl' failed: task 'check-1': Error during execution of task: ValueError('bad rows')"]
    # The task's own traceback is in the run log, as Prefect logged it.
    assert 'raise ValueError("bad rows")' in result.stderr
    assert runs(marker) == 1
