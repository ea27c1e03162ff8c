"""The seed's register-and-run cycle through the real CLI, on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from cli_helpers import FLOWIMG, one_line_error, seed_flow

SEED_OUTPUT = re.compile(
    r"Collecting flows\.\.\.\n"
    r"(Created project 'MyProject'\.\n)?"
    r"Processing 'flows/my_flow\.py':\n"
    r"  Building `Local` storage\.\.\.\n"
    r"  Registering 'example'\.\.\. Done\n"
    r"  └── ID: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\n"
    r"  └── Version: 1\n"
    r"={24} 1 registered ={24}\n$"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def registry(request, monkeypatch):
    """FLOWIMG_BACKEND for the CLI: the default SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        monkeypatch.setenv("FLOWIMG_BACKEND", request.getfixturevalue("postgres_database_url"))
    return request.param


@pytest.fixture
def flow_file(tmp_path):
    script = tmp_path / "flows" / "my_flow.py"
    script.parent.mkdir()
    script.write_text(seed_flow())
    return script


def register(cli, *extra, ok=True):
    return cli("register", "-p", "flows/my_flow.py", "--project", "MyProject", *extra, ok=ok)


def test_seed_register_output(cli, flow_file, registry):
    result = register(cli)
    assert SEED_OUTPUT.match(result.stdout), result.stdout
    assert "Skipped (metadata unchanged)" in register(cli).stdout


def test_task_edit_runs_new_code_without_reregistering(cli, flow_file, registry):
    register(cli)
    assert "[1, 2, 3, 4, 5]" in cli("run", "example", "--project", "MyProject").stdout
    flow_file.write_text(seed_flow(printed="'edited', sum(data)"))
    assert cli("run", "example", "--project", "MyProject").stdout.strip() == "edited 15"
    again = register(cli)
    assert "Skipped (metadata unchanged)" in again.stdout and "1 skipped" in again.stdout


def test_structure_change_is_refused_then_reregistration_bumps_the_version(cli, flow_file, registry):
    register(cli)
    flow_file.write_text(flow_file.read_text().replace("    print_data(data)", "    print_data(data)\n    get_data()"))
    line = one_line_error(cli("run", "example", "--project", "MyProject", ok=False))
    assert "changed structure since it was registered (task added: 'get_data-2')" in line
    assert "re-register it: flowimg register -p flows/my_flow.py --project MyProject" in line
    assert "Version: 2" in register(cli).stdout
    assert cli("run", "example", "--project", "MyProject").returncode == 0
    old = one_line_error(cli("run", "example", "--project", "MyProject", "--version", "1", ok=False))
    assert "task added: 'get_data-2'" in old


def test_force_labels_and_parameters_bump_versions(cli, flow_file, registry):
    register(cli)
    assert "Version: 2" in register(cli, "--force").stdout
    assert "Version: 3" in register(cli, "-l", "nightly").stdout
    assert "Skipped" in register(cli, "-l", "nightly").stdout
    flow_file.write_text(flow_file.read_text().replace("from flowimg import task, Flow", "from flowimg import task, Flow, Parameter")
                         .replace("    data = get_data()", "    n = Parameter('n', default=3)\n    data = get_data()"))
    assert "Version: 4" in register(cli).stdout
    shown = cli("flows", "show", "example", "--project", "MyProject").stdout
    assert shown.count("version ") == 4 and 'parameters {"n": 3}' in shown and "labels nightly" in shown


def test_json_output_and_flows_list(cli, flow_file, registry):
    result = register(cli, "--json")
    data = json.loads(result.stdout)
    assert data[0]["status"] == "registered" and data[0]["version"] == 1 and data[0]["flow"] == "example"
    listed = cli("flows", "list").stdout
    assert "MyProject/example  version 1" in listed and "Local" in listed
    assert cli("project", "list").stdout.split() == ["MyProject"]


def test_run_with_parameters(cli, tmp_path, registry):
    (tmp_path / "p.py").write_text(
        "from flowimg import task, Flow, Parameter\n@task\ndef show(x, y):\n    print(x * y)\n"
        "with Flow('params') as flow:\n    show(Parameter('x', default=2), Parameter('y'))\n")
    cli("register", "-p", "p.py", "--project", "P")
    assert cli("run", "params", "--project", "P", "--param", "y=21").stdout.strip() == "42"
    assert cli("run", "params", "--project", "P", "--param", "y=3", "--param", "x=[1]").stdout.strip() == "[1, 1, 1]"
    assert "bad parameter 'y'" in one_line_error(cli("run", "params", "--project", "P", "--param", "y", ok=False))
    assert "needs parameter 'y'" in one_line_error(cli("run", "params", "--project", "P", ok=False))


def test_folders_globs_names_and_a_failing_file(cli, tmp_path, registry):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "a.py").write_text(seed_flow(name="a"))
    (flows / "b.py").write_text(seed_flow(name="b"))
    (flows / "helpers.py").write_text("VALUE = 1\n")
    (flows / "broken.py").write_text("raise ValueError('boom')\n")
    result = cli("register", "-p", "flows", "--project", "P", ok=False)
    assert result.returncode == 1
    assert "Processing 'flows/broken.py':\n  Error\n    " in result.stdout and "ValueError: boom" in result.stdout
    assert "2 registered, 1 errored" in result.stdout
    assert "helpers.py" not in result.stdout
    only_b = cli("register", "-p", "flows/[ab].py", "--project", "Q", "-n", "b")
    assert "Registering 'b'... Done" in only_b.stdout and "'a'" not in only_b.stdout


def test_duplicate_names_in_one_run_register_nothing(cli, tmp_path, registry):
    (tmp_path / "one.py").write_text(seed_flow(name="same"))
    (tmp_path / "two.py").write_text(seed_flow(name="same"))
    line = one_line_error(cli("register", "-p", "one.py", "-p", "two.py", "--project", "P", ok=False))
    assert "two flows are named 'same'" in line
    assert "No flows registered." in cli("flows", "list").stdout


@pytest.mark.parametrize("args, message", [
    (["register", "-p", "missing.py", "--project", "P"], "path 'missing.py' does not exist"),
    (["run", "nope", "--project", "P"], "no project named 'P'"),
])
def test_bad_input(cli, args, message, registry):
    assert message in one_line_error(cli(*args, ok=False))


def test_file_without_flows_and_unknown_version(cli, tmp_path, flow_file, registry):
    (tmp_path / "empty.py").write_text("x = 1\n")
    result = cli("register", "-p", "empty.py", "--project", "P", ok=False)
    assert result.returncode == 1 and "no flow found in empty.py" in result.stdout
    register(cli)
    line = one_line_error(cli("run", "example", "--project", "MyProject", "--version", "7", ok=False))
    assert "version 7" in line and "1" in line


def test_concurrent_registrations_make_exactly_one_version(cli, tmp_path, flow_file, registry):
    register(cli)
    flow_file.write_text(flow_file.read_text().replace("    print_data(data)", "    print_data(data)\n    get_data()"))
    procs = [subprocess.Popen([FLOWIMG, "register", "-p", "flows/my_flow.py", "--project", "MyProject", "--json"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes += json.loads(out)
    assert sorted(o["status"] for o in outcomes) == ["registered"] + ["skipped"] * 7
    assert {o["version"] for o in outcomes} == {2}
    assert cli("flows", "show", "example", "--project", "MyProject").stdout.count("version ") == 2


def test_watch_reregisters_a_changed_file(cli, tmp_path, flow_file, registry):
    proc = subprocess.Popen([FLOWIMG, "register", "-p", "flows/my_flow.py", "--project", "MyProject", "--watch"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)
    try:
        deadline = time.time() + 30
        while "version 1" not in cli("flows", "show", "example", "--project", "MyProject", ok=False).stdout:
            assert time.time() < deadline, "first registration did not happen"
            time.sleep(0.3)
        time.sleep(1.1)
        flow_file.write_text(flow_file.read_text().replace("    print_data(data)", "    print_data(data)\n    get_data()"))
        while "version 2" not in cli("flows", "show", "example", "--project", "MyProject", ok=False).stdout:
            assert time.time() < deadline, "the change was not re-registered"
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "Watching 1 file(s)" in out and "Stopped watching." in out
