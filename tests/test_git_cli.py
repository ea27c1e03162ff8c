"""The seed's GitHub walkthrough through the real CLI, and its GitLab, Bitbucket and Git variants.

The hosted services are the local stand-ins of tests/git_services.py (same URLs, headers, status codes
and bodies as the documented APIs); Git is the real `git http-backend`. Commit a flow, register once,
run, edit a task and commit, run again (new output, no re-registration), change the structure, refused.
"""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from flowimg.backend import open_backend
from cli_helpers import Cli, one_line_error, seed_flow
from docker_service import BASE_IMAGE, PIP_BASE_IMAGE

FLOW_PATH = "flows/my_flow.py"


def provider(name, request):
    """(storage kind, repo name, storage kwargs, secrets) for one service."""
    if name == "github":
        api = request.getfixturevalue("github_api")
        return "GitHub", "org/repo", {"repo": "org/repo", "path": FLOW_PATH, "base_url": api.url,
                                      "access_token_secret": "GITHUB_ACCESS_TOKEN"}, {"GITHUB_ACCESS_TOKEN": api.token}
    if name == "gitlab":
        api = request.getfixturevalue("gitlab_api")
        return "GitLab", "org/repo", {"repo": "org/repo", "path": FLOW_PATH, "host": api.url,
                                      "access_token_secret": "GITLAB_ACCESS_TOKEN"}, {"GITLAB_ACCESS_TOKEN": api.token}
    if name == "bitbucket":
        api = request.getfixturevalue("bitbucket_server_api")
        return "Bitbucket", "PROJ/repo", {"project": "PROJ", "repo": "repo", "path": FLOW_PATH, "host": api.url,
                                          "access_token_secret": "BITBUCKET_ACCESS_TOKEN"}, {"BITBUCKET_ACCESS_TOKEN": api.token}
    server = request.getfixturevalue("git_http_server")
    return "Git", "org/repo", {"repo": f"{server.url}/org/repo.git", "flow_path": FLOW_PATH,
                               "git_token_secret_name": "GIT_TOKEN"}, {"GIT_TOKEN": server.token}


class Repo:
    def __init__(self, name, request, git_repos, monkeypatch):
        self.kind, repo_name, self.kwargs, self.secrets = provider(name, request)
        for key, value in self.secrets.items():
            monkeypatch.setenv(key, value)
        self.work = git_repos.create(repo_name)
        self.cli = Cli(self.work.work)

    def commit(self, printed="data", extra_task=False) -> str:
        text = seed_flow(printed=printed, imports=f"from flowimg.storage import {self.kind}",
                         storage=f"flow.storage = {self.kind}(**{self.kwargs!r})\n")
        if extra_task:
            text = text.replace("    print_data(data)", "    print_data(data)\n    get_data()")
        return self.work.commit({FLOW_PATH: text})

    def no_token(self, *texts):
        for text in texts:
            for value in self.secrets.values():
                assert value not in text


@pytest.fixture(params=["github", "gitlab", "bitbucket", "git"])
def repo(request, git_repos, monkeypatch):
    return Repo(request.param, request, git_repos, monkeypatch)


@pytest.fixture
def github(request, git_repos, monkeypatch):
    return Repo("github", request, git_repos, monkeypatch)


def test_seed_walkthrough(repo, flowimg_home):
    repo.commit()
    registered = repo.cli("register", "-p", FLOW_PATH, "--project", "MyProject")
    assert f"  Building `{repo.kind}` storage...\n  Registering 'example'... Done" in registered.stdout
    first = repo.cli("run", "example", "--project", "MyProject")
    assert first.stdout.strip() == "[1, 2, 3, 4, 5]"
    sha = repo.commit(printed="'edited', sum(data)")
    second = repo.cli("run", "example", "--project", "MyProject")
    assert second.stdout.strip() == "edited 15"
    assert sha[:7] in second.stderr  # each run logs the commit it used
    repo.commit(extra_task=True)
    refused = repo.cli("run", "example", "--project", "MyProject", ok=False)
    assert "changed structure since it was registered (task added: 'get_data-2')" in one_line_error(refused)
    assert "Version: 2" in repo.cli("register", "-p", FLOW_PATH, "--project", "MyProject").stdout
    repo.no_token(registered.stdout, first.stdout + first.stderr, second.stdout + second.stderr,
                  refused.stderr, (flowimg_home / "flowimg.db").read_bytes().decode("latin-1"))


def test_pin_records_the_commit_and_runs_exactly_it(github):
    pinned_sha = github.commit()
    registered = github.cli("register", "-p", FLOW_PATH, "--project", "P", "--pin")
    assert pinned_sha[:7] in registered.stdout
    github.commit(printed="'not pinned'")
    ran = github.cli("run", "example", "--project", "P")
    assert ran.stdout.strip() == "[1, 2, 3, 4, 5]" and pinned_sha[:7] in ran.stderr
    unpinned = github.cli("register", "-p", FLOW_PATH, "--project", "P")
    assert "Version: 2" in unpinned.stdout  # the ref changed from a SHA back to the default branch
    assert github.cli("run", "example", "--project", "P").stdout.strip() == "not pinned"


def test_missing_secret_is_named(github, monkeypatch):
    github.commit()
    github.cli("register", "-p", FLOW_PATH, "--project", "P")
    monkeypatch.delenv("GITHUB_ACCESS_TOKEN")
    line = one_line_error(github.cli("run", "example", "--project", "P", ok=False))
    assert "secret 'GITHUB_ACCESS_TOKEN' not found" in line


def test_rejected_token_is_reported_without_the_token(github, monkeypatch):
    github.commit()
    github.cli("register", "-p", FLOW_PATH, "--project", "P")
    monkeypatch.setenv("GITHUB_ACCESS_TOKEN", "ghp_wrongtoken0000")
    result = github.cli("run", "example", "--project", "P", ok=False)
    assert "token rejected" in one_line_error(result)
    assert "ghp_wrongtoken0000" not in result.stdout + result.stderr


@pytest.mark.usefixtures("no_new_containers")
@pytest.mark.parametrize("name, image", [("github", BASE_IMAGE), ("git", PIP_BASE_IMAGE)])
def test_run_inside_an_image_that_holds_no_flow(name, image, request, git_repos, monkeypatch, flowimg_home):
    """The runtime fetches the script in the container; the token is that container's environment only."""
    repo = Repo(name, request, git_repos, monkeypatch)
    repo.commit()
    repo.cli("register", "-p", FLOW_PATH, "--project", "P")
    run = ("run", "example", "--project", "P", "--image", image, "--network", "host")
    first = repo.cli(*run)
    assert first.stdout.strip() == "[1, 2, 3, 4, 5]"
    repo.commit(printed="'fresh from the repo'")
    second = repo.cli(*run)
    assert second.stdout.strip() == "fresh from the repo"
    repo.no_token(first.stdout + first.stderr, second.stdout + second.stderr)
    with open_backend() as db:  # each run is recorded, from the container's output, token-free
        runs = db.list_runs()
    assert [(r.state, r.target, r.image, r.exit_code) for r in runs] == [("Success", "docker", image, 0)] * 2
    assert "fresh from the repo" in runs[0].log_tail and "[1, 2, 3, 4, 5]" in runs[1].log_tail
    assert f"Flow run {runs[0].id}" in second.stderr and runs[0].node and runs[0].end_time
    repo.no_token(json.dumps([asdict(r) for r in runs]))


@pytest.mark.usefixtures("no_new_containers")
def test_plain_git_in_an_image_without_git_says_so(request, git_repos, monkeypatch):
    repo = Repo("git", request, git_repos, monkeypatch)
    repo.commit()
    repo.cli("register", "-p", FLOW_PATH, "--project", "P")
    result = repo.cli("run", "example", "--project", "P", "--image", BASE_IMAGE, "--network", "host", ok=False)
    assert result.returncode == 1 and "git" in result.stderr.lower() and "install" in result.stderr.lower()
