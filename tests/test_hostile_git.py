"""Hostile input for Git storage: redirects to another host, option injection through `repo=`,
hosts that never answer, and SIGTERM while a clone exists. Real git, real `git http-backend`,
real misbehaving servers on loopback (tests/hostile_servers.py); no Docker.
"""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cli_helpers import FLOWIMG, register_failure, run_bounded, seed_flow
from hostile_servers import RedirectServer, SilentServer
from flowimg.errors import FlowimgError
from flowimg.storage import from_dict
from flowimg.storage.git import Git

FLOW_PATH = "flows/my_flow.py"
BOUND = 60   # seconds to wait for a process before the test fails instead of hanging


def git_flow(folder: Path, repo: str, **kwargs: str) -> Path:
    options = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    script = folder / "flow.py"
    script.write_text(seed_flow(imports="from flowimg.storage import Git",
                                storage=f"flow.storage = Git(repo={repo!r}, flow_path={FLOW_PATH!r}{options})\n"))
    return script


def clone_folders(tmp: Path) -> list:
    return glob.glob(str(tmp / "flowimg-git-*"))


def test_token_goes_only_to_the_configured_host_not_where_a_redirect_points(git_repos, git_http_server, monkeypatch):
    git_repos.create("org/repo").commit({FLOW_PATH: seed_flow()})
    monkeypatch.setenv("GIT_TOKEN", git_http_server.token)
    monkeypatch.setenv("FLOWIMG_NETWORK_TIMEOUT", "30")
    with RedirectServer(git_http_server.url) as redirect:
        storage = Git(repo=f"{redirect.url}/org/repo.git", flow_path=FLOW_PATH, git_token_secret_name="GIT_TOKEN")
        storage.flows["example"] = FLOW_PATH
        with pytest.raises(FlowimgError) as info:
            storage.get_flow("example")
    assert redirect.heads, "git never asked the redirecting server"
    sent = [headers for _, _, headers in git_http_server.requests if "Authorization" in headers]
    assert git_http_server.requests and sent == [] and git_http_server.usernames == []
    message = str(info.value)
    assert f"another server (http://127.0.0.1:{git_http_server.httpd.server_address[1]})" in message
    assert f"only to {redirect.url}" in message and git_http_server.token not in message


def test_token_still_reaches_the_configured_host(git_repos, git_http_server, monkeypatch):
    git_repos.create("org/repo").commit({FLOW_PATH: seed_flow()})
    monkeypatch.setenv("GIT_TOKEN", git_http_server.token)
    storage = Git(repo=f"{git_http_server.url}/org/repo.git", flow_path=FLOW_PATH, git_token_secret_name="GIT_TOKEN")
    storage.flows["example"] = FLOW_PATH
    assert storage.get_flow("example").name == "example"
    assert git_http_server.usernames and set(git_http_server.usernames) == {"x-access-token"}


def test_repo_that_is_a_git_option_runs_nothing_during_register_pin(tmp_path):
    marker = tmp_path / "x"
    script = git_flow(tmp_path, f"--upload-pack=touch {marker} #://")
    result = run_bounded(tmp_path, "register", "-p", str(script), "--project", "P", "--pin")
    line = register_failure(result)
    assert "is not a repository address" in line and "org/repo" in line
    assert not marker.exists()
    listed = run_bounded(tmp_path, "flows", "list")
    assert "example" not in listed.stdout


@pytest.mark.parametrize("repo", [
    "--upload-pack=touch {marker} #://",
    "-oProxyCommand=touch {marker}@host:org/repo",
    "git@-oProxyCommand=touch {marker}:org/repo",
    "ssh://-oProxyCommand=touch%20{marker}/org/repo",
    "ext::sh -c touch% {marker}",
    "fd::17/org/repo",
    "org/repo\nRUN touch {marker}",
    "ftp://example.com/org/repo.git",
])
def test_hostile_repo_values_are_refused_before_git_runs(repo, tmp_path):
    marker = tmp_path / "x"
    value = repo.format(marker=marker)
    with pytest.raises(FlowimgError, match="is not a repository address"):
        Git(repo=value, flow_path=FLOW_PATH)
    # A stored registration is rebuilt through the same checks.
    with pytest.raises(FlowimgError, match="is not a repository address"):
        from_dict({"kind": "Git", "stored_as_script": True, "flows": {},
                   "settings": {"repo": value, "flow_path": FLOW_PATH}})
    assert not marker.exists()


@pytest.mark.parametrize("repo", ["org/repo", "group/sub/repo", "git@example.com:org/repo.git",
                                  "ssh://git@example.com:2222/org/repo.git", "https://example.com/org/repo.git",
                                  "git://example.com/org/repo.git", "file:///srv/git/repo.git", "/srv/git/repo.git"])
def test_ordinary_repo_addresses_are_accepted(repo):
    assert Git(repo=repo, flow_path=FLOW_PATH).repo == repo


def test_token_in_the_repo_url_is_refused_without_showing_it():
    with pytest.raises(FlowimgError, match="not in the repo URL") as info:
        Git(repo="https://bot:ghp_secret1234@example.com/org/repo.git", flow_path=FLOW_PATH)
    assert "ghp_secret1234" not in str(info.value)


@pytest.mark.parametrize("pin, command", [([], "clone"), (["--pin"], "ls-remote")])
def test_git_against_a_host_that_never_answers_ends_at_the_deadline(pin, command, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with SilentServer() as silent:
        script = git_flow(tmp_path, f"{silent.url}/org/repo.git")
        result = run_bounded(tmp_path, "register", "-p", str(script), "--project", "P", *pin,
                             env={"FLOWIMG_NETWORK_TIMEOUT": "1.5", "TMPDIR": str(scratch)}, seconds=20)
        assert silent.connections, "git never connected"
    line = register_failure(result)
    assert f"git {command} from 127.0.0.1:{silent.port} did not finish within 1.5 s" in line
    assert "FLOWIMG_NETWORK_TIMEOUT" in line
    assert clone_folders(scratch) == []


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan"])
def test_a_bad_network_timeout_is_one_line(value, tmp_path):
    with SilentServer() as silent:
        script = git_flow(tmp_path, f"{silent.url}/org/repo.git")
        result = run_bounded(tmp_path, "register", "-p", str(script), "--project", "P",
                             env={"FLOWIMG_NETWORK_TIMEOUT": value}, seconds=20)
    line = register_failure(result)
    assert f"FLOWIMG_NETWORK_TIMEOUT='{value}' must be a number of seconds above 0" in line


def _processes_mentioning(text: str) -> list:
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as fh:
                if text.encode() in fh.read():
                    found.append(cmdline)
        except OSError:
            pass
    return found


def test_sigterm_during_a_clone_removes_the_clone_folder_and_ends_git(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with SilentServer() as silent:
        script = git_flow(tmp_path, f"{silent.url}/org/repo.git")
        process = subprocess.Popen([FLOWIMG, "register", "-p", str(script), "--project", "P"], cwd=tmp_path,
                                   env={**os.environ, "FLOWIMG_NETWORK_TIMEOUT": "120", "TMPDIR": str(scratch)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            waited = 0.0
            while not (clone_folders(scratch) and silent.connections) and waited < BOUND:
                time.sleep(0.1)
                waited += 0.1
            assert clone_folders(scratch) and silent.connections, "the clone never started"
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=BOUND)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode != 0 and "Traceback" not in stderr
    assert clone_folders(scratch) == []
    assert _processes_mentioning(f"127.0.0.1:{silent.port}") == []
