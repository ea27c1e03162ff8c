"""Run the real `flowimg` console script as a user would, and write flow files for tests."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FLOWIMG = str(Path(sys.executable).with_name("flowimg"))

SEED_FLOW = '''
from flowimg import task, Flow
{imports}

@task
def get_data():
    return [1, 2, 3, 4, 5]

@task
def print_data(data):
    print({printed})

with Flow("{name}") as flow:
    data = get_data()
    print_data(data)
{storage}
'''


def seed_flow(name: str = "example", printed: str = "data", imports: str = "", storage: str = "") -> str:
    return SEED_FLOW.format(name=name, printed=printed, imports=imports, storage=textwrap.dedent(storage))


class Cli:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def __call__(self, *args: str, ok: bool = True, env: dict = None, stdin: str = None) -> subprocess.CompletedProcess:
        result = subprocess.run([FLOWIMG, *args], cwd=self.cwd, capture_output=True, text=True,
                                env={**os.environ, **(env or {})}, input=stdin, timeout=600)
        if ok and result.returncode != 0:
            raise AssertionError(f"flowimg {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """Bad input gives exit != 0 and exactly one error line, with no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def run_bounded(cwd: Path, *args: str, env: dict = None, seconds: float = 60) -> subprocess.CompletedProcess:
    """`flowimg ARGS` that fails the test instead of hanging when it runs past `seconds`."""
    return subprocess.run([FLOWIMG, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=seconds)


def register_failure(result: subprocess.CompletedProcess) -> str:
    """`register` reports a flow that fails as '... Error' and one indented line below it, exit 1."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("Error"))
    message = [line for line in lines[at + 1:] if line.startswith("    ")]
    assert len(message) == 1 and "1 errored" in result.stdout, result.stdout
    return message[0].strip()


def results_by_slug(flow) -> dict:
    """Run a flow once and give each task's result by slug (raises when the flow fails)."""
    state = flow.run(run_on_schedule=False)
    assert state.is_successful(), state
    return {flow.slugs[task]: task_state.result for task, task_state in state.result.items()}


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]


@pytest.fixture(params=BACKENDS)
def backend_url(request, tmp_path) -> str:
    """A fresh registry on each database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/registry.db"
    return str(request.getfixturevalue("postgres_database_url"))


@pytest.fixture
def backend(backend_url):
    from flowimg.backend import open_backend

    with open_backend(backend_url) as opened:
        yield opened


@pytest.fixture(params=BACKENDS)
def registry_url(request, flowimg_home, monkeypatch) -> str:
    """The registry the CLI uses (FLOWIMG_BACKEND): SQLite in its default place, or PostgreSQL."""
    url = (f"sqlite://{flowimg_home}/flowimg.db" if request.param == "sqlite"
           else str(request.getfixturevalue("postgres_database_url")))
    monkeypatch.setenv("FLOWIMG_BACKEND", url)
    return url
