"""GitHub, GitLab, Bitbucket (Server and Cloud) and plain Git storage, end to end on this machine.

Faithful parts: the repositories, commits, SHAs, branches and tags are real git; the Git storage runs
the real `git` binary (clone / fetch / ls-remote) against the real `git http-backend` over HTTP with
basic auth; the REST storages make real HTTP requests (urllib) to local stand-ins that answer the
services' documented URLs, auth headers, status codes and error bodies, reading the real
repositories (see tests/git_services.py for what each stand-in follows). Not covered here: TLS, the
real hosts, rate limits, SSH.

The walkthrough follows the spec's: commit a flow, register it (add_flow + build + to_dict), run it
from the stored settings, edit a task body and commit, run again -> new output, same structure hash.
"""
from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Callable, Dict, List, Optional

import pytest

from flowimg.errors import FlowimgError
from flowimg.loading import load_script, pick_flow
from flowimg.storage import from_dict
from flowimg.storage.base import Storage
from flowimg.storage.git_hosted import forget_folder
from cli_helpers import results_by_slug
from ports import closed_port

FLOW_PATH = "flows/my_flow.py"

FLOW = '''from flowimg import Flow, task
from flowimg.storage import {kind}


@task
def get_data():
    return [1, 2, 3, 4, 5]


@task
def report(data):
    return "{label}: " + str(sum(data))
{extra_def}

with Flow("example") as flow:
    data = get_data()
    report(data)
{extra_call}
flow.storage = {kind}(**{kwargs!r})
'''

EXTRA_DEF = '''

@task
def audit(data):
    return len(data)
'''

SIBLING_FLOW = '''import os

import helpers
from flowimg import Flow, task

with open(os.path.join(os.path.dirname(__file__), "data.txt")) as fh:
    ANSWER = fh.read().strip()


@task
def report():
    return helpers.label() + " " + ANSWER


with Flow("example") as flow:
    report()
'''


def short(sha: str) -> str:
    return sha[:7]


class Case:
    """One storage kind wired to its local service: how to make the storage and set its secrets."""

    def __init__(self, name: str, kind: str, repo_name: str, token: str, server: Any,
                 kwargs: Dict[str, Any], secrets: Dict[str, str], git_repos: Any,
                 path_key: str = "path", ref_key: str = "ref") -> None:
        self.name, self.kind, self.token, self.server = name, kind, token, server
        self.kwargs, self.secrets = kwargs, secrets
        self.path_key, self.ref_key = path_key, ref_key
        self.repo = git_repos.create(repo_name)

    def storage_kwargs(self, ref: Optional[str] = None, **over: Any) -> Dict[str, Any]:
        kwargs = dict(self.kwargs, **{self.path_key: FLOW_PATH})
        if ref:
            kwargs[self.ref_key] = ref
        kwargs.update(over)
        return kwargs

    def storage(self, ref: Optional[str] = None, **over: Any) -> Storage:
        from flowimg.storage import storage_class

        return storage_class(self.kind)(**self.storage_kwargs(ref, **over))

    def script(self, label: str, extra: bool = False, **storage_over: Any) -> str:
        return FLOW.format(kind=self.kind, label=label, kwargs=self.storage_kwargs(**storage_over),
                           extra_def=EXTRA_DEF if extra else "", extra_call="    audit(data)\n" if extra else "")

    def set_secrets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in self.secrets.items():
            monkeypatch.setenv(name, value)


def _github(request: Any, git_repos: Any) -> Case:
    api = request.getfixturevalue("github_api")
    return Case("github", "GitHub", "org/repo", api.token, api,
                {"repo": "org/repo", "access_token_secret": "GITHUB_ACCESS_TOKEN", "base_url": api.url},
                {"GITHUB_ACCESS_TOKEN": api.token}, git_repos)


def _gitlab(request: Any, git_repos: Any) -> Case:
    api = request.getfixturevalue("gitlab_api")
    return Case("gitlab", "GitLab", "org/repo", api.token, api,
                {"repo": "org/repo", "host": api.url, "access_token_secret": "GITLAB_ACCESS_TOKEN"},
                {"GITLAB_ACCESS_TOKEN": api.token}, git_repos)


def _bitbucket_server(request: Any, git_repos: Any) -> Case:
    api = request.getfixturevalue("bitbucket_server_api")
    return Case("bitbucket_server", "Bitbucket", "PROJ/repo", api.token, api,
                {"project": "PROJ", "repo": "repo", "host": api.url, "access_token_secret": "BITBUCKET_ACCESS_TOKEN"},
                {"BITBUCKET_ACCESS_TOKEN": api.token}, git_repos)


def _bitbucket_cloud(request: Any, git_repos: Any) -> Case:
    api = request.getfixturevalue("bitbucket_cloud_api")
    return Case("bitbucket_cloud", "Bitbucket", "team/repo", api.token, api,
                {"project": None, "repo": "repo", "host": api.url, "workspace": "team",
                 "username_secret": "BITBUCKET_USERNAME", "app_password_secret": "BITBUCKET_APP_PASSWORD"},
                {"BITBUCKET_USERNAME": api.username, "BITBUCKET_APP_PASSWORD": api.token}, git_repos)


def _git(request: Any, git_repos: Any) -> Case:
    server = request.getfixturevalue("git_http_server")
    return Case("git", "Git", "org/repo", server.token, server,
                {"repo": f"{server.url}/org/repo.git", "git_token_secret_name": "GIT_TOKEN"},
                {"GIT_TOKEN": server.token}, git_repos, path_key="flow_path", ref_key="branch")


CASES: Dict[str, Callable[[Any, Any], Case]] = {
    "github": _github, "gitlab": _gitlab, "bitbucket_server": _bitbucket_server,
    "bitbucket_cloud": _bitbucket_cloud, "git": _git,
}
HOSTED = ["github", "gitlab", "bitbucket_server", "bitbucket_cloud"]


def make_case(name: str, request: Any, git_repos: Any, monkeypatch: pytest.MonkeyPatch) -> Case:
    made = CASES[name](request, git_repos)
    made.set_secrets(monkeypatch)
    return made


@pytest.fixture(params=list(CASES))
def case(request, git_repos, monkeypatch) -> Case:
    return make_case(request.param, request, git_repos, monkeypatch)


@pytest.fixture
def git_case(request, git_repos, monkeypatch) -> Case:
    return make_case("git", request, git_repos, monkeypatch)


@pytest.fixture
def github_case(request, git_repos, monkeypatch) -> Case:
    return make_case("github", request, git_repos, monkeypatch)


@pytest.fixture
def clean_tmp(tmp_path, monkeypatch) -> str:
    """A private temp folder, to see that clones are removed."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return str(folder)


def register(case: Case, storage: Optional[Storage] = None, log: Optional[List[str]] = None) -> Dict[str, Any]:
    """What `flowimg register` does with a storage: load the local script, add_flow, build, to_dict."""
    local = os.path.join(case.repo.work, FLOW_PATH)
    flow = pick_flow(load_script(local), "example", local)
    storage = storage or flow.storage
    assert storage.add_flow(flow, local) == FLOW_PATH
    storage.build(log=(log if log is not None else []).append)
    return storage.to_dict()


def run(registered: Dict[str, Any], log: List[str]) -> Any:
    flow = from_dict(registered).get_flow("example", log=log.append)
    return flow, results_by_slug(flow)


def last_fetch(log: List[str]) -> str:
    return [line for line in log if line.startswith("Fetched ")][-1]


def assert_no_token(case: Case, *texts: str) -> None:
    for text in texts:
        assert case.token not in text


# The walkthrough ---------------------------------------------------------------------------------

def test_edit_task_body_runs_new_code_without_reregistering(case, capfd):
    """Seed walkthrough: same registration, new commit -> new output, same structure hash."""
    first = case.repo.commit({"README.md": "# repo\n", FLOW_PATH: case.script("v1")}, "Add my flow")
    log: List[str] = []
    registered = register(case, log=log)
    assert registered["settings"].get("ref", registered["settings"].get("branch")) is None
    flow1, results1 = run(registered, log)
    assert results1["report-1"] == "v1: 15"

    second = case.repo.commit({FLOW_PATH: case.script("v2")}, "Change a task body")
    flow2, results2 = run(registered, log)
    assert results2["report-1"] == "v2: 15"
    assert flow2.structure_hash() == flow1.structure_hash()

    case.repo.commit({FLOW_PATH: case.script("v3", extra=True)}, "Add a task")
    flow3, results3 = run(registered, log)
    assert results3["audit-1"] == 5
    assert flow3.structure_hash() != flow1.structure_hash()

    fetched = [line for line in log if line.startswith(f"Fetched {FLOW_PATH} from ")]
    assert len(fetched) == 4   # build + three runs
    assert f"at {short(first)} (main)" in fetched[0] and f"at {short(first)} (main)" in fetched[1]
    assert f"at {short(second)} (main)" in fetched[2]
    assert_no_token(case, "\n".join(log), repr(registered), *capfd.readouterr())
    # Nothing of the fetched script stays on sys.path (no fake or removed folders).
    assert not [p for p in sys.path if "@" in p or "flowimg-git-" in p]


def test_pin_fixes_the_commit(case):
    first = case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    storage = case.storage()
    log: List[str] = []
    registered_unpinned = register(case, storage=case.storage())
    storage.pin(log=log.append)
    assert first in log[-1]
    registered = register(case, storage=storage)
    key = "commit" if case.name == "git" else "ref"
    assert registered["settings"][key] == first

    case.repo.commit({FLOW_PATH: case.script("v2")}, "Later commit")
    _, results = run(registered, log)
    assert results["report-1"] == "v1: 15"
    assert last_fetch(log).endswith(f"at {short(first)} (pinned)")
    _, latest = run(registered_unpinned, log)
    assert latest["report-1"] == "v2: 15"


def test_branch_ref_and_pin_of_a_branch(case):
    case.repo.commit({FLOW_PATH: case.script("main")}, "main")
    dev = case.repo.commit({FLOW_PATH: case.script("dev")}, "dev work", branch="dev")
    case.repo.commit({FLOW_PATH: case.script("main 2")}, "main again", branch="main")
    log: List[str] = []
    storage = case.storage(ref="dev")
    registered = register(case, storage=storage)
    _, results = run(registered, log)
    assert results["report-1"] == "dev: 15"
    assert f"at {short(dev)} (dev)" in last_fetch(log)
    storage.pin()
    assert dev in storage.settings().values()


# Plain Git: the whole repository comes with the flow ----------------------------------------------

def test_git_flow_imports_sibling_module_and_reads_data_file(git_case, clean_tmp):
    repo = git_case.repo
    repo.commit({FLOW_PATH: SIBLING_FLOW, "flows/helpers.py": "def label():\n    return 'helper v1'\n",
                 "flows/data.txt": "42\n"}, "flow with a helper")
    storage = git_case.storage()
    registered = register(git_case, storage=storage)
    # register ran the local copy in this process; `flowimg run` is another process: forget it.
    forget_folder(os.path.join(repo.work, "flows"))
    assert "helpers" not in sys.modules
    log: List[str] = []
    _, results = run(registered, log)
    assert results["report-1"] == "helper v1 42"
    assert os.listdir(clean_tmp) == []          # the clone is gone, the flow still runs

    repo.commit({"flows/helpers.py": "def label():\n    return 'helper v2'\n"}, "edit the helper only")
    _, results = run(registered, log)
    assert results["report-1"] == "helper v2 42"  # not a stale `helpers` from sys.modules
    assert "helpers" not in sys.modules
    assert os.listdir(clean_tmp) == []


def test_git_clone_removed_when_loading_fails(git_case, clean_tmp):
    git_case.repo.commit({FLOW_PATH: "raise RuntimeError('boom at load')\n"}, "broken")
    storage = git_case.storage()
    storage.flows["example"] = FLOW_PATH
    with pytest.raises(FlowimgError, match="RuntimeError: boom at load"):
        storage.get_flow("example")
    assert os.listdir(clean_tmp) == []


def test_git_token_only_through_askpass(git_case):
    git_case.repo.commit({FLOW_PATH: git_case.script("v1")}, "Add my flow")
    register(git_case)
    assert git_case.server.usernames and set(git_case.server.usernames) == {"x-access-token"}
    storage = git_case.storage(git_token_username="deploy-bot")
    storage.build()
    assert git_case.server.usernames[-1] == "deploy-bot"
    for _, path, _ in git_case.server.requests:
        assert git_case.token not in path


def test_git_tag_and_commit(git_case):
    repo = git_case.repo
    tagged = repo.commit({FLOW_PATH: git_case.script("tagged")}, "release")
    repo.tag("v1.0")
    repo.commit({FLOW_PATH: git_case.script("later")}, "later")
    log: List[str] = []
    storage = git_case.storage(tag="v1.0")
    _, results = run(register(git_case, storage=storage), log)
    assert results["report-1"] == "tagged: 15"
    storage.pin()                      # an annotated tag: the peeled commit, not the tag object
    assert storage.settings()["commit"] == tagged and storage.settings()["tag"] is None
    _, results = run(register(git_case, storage=git_case.storage(commit=tagged, clone_depth=1)), log)
    assert results["report-1"] == "tagged: 15"
    assert f"at {short(tagged)} (pinned)" in last_fetch(log)


def test_git_only_one_ref_and_full_commit():
    from flowimg.storage.git import Git

    with pytest.raises(FlowimgError, match="only one of branch, tag or commit"):
        Git("org/repo", FLOW_PATH, branch="main", tag="v1")
    with pytest.raises(FlowimgError, match="full 40-character SHA"):
        Git("org/repo", FLOW_PATH, commit="abc123")
    with pytest.raises(FlowimgError, match="not in the repo URL"):
        Git("https://user:s3cret@example.com/org/repo.git", FLOW_PATH)
    assert Git("org/repo", FLOW_PATH).url == "https://github.com/org/repo.git"
    assert Git("org/repo", FLOW_PATH, use_ssh=True).url == "git@github.com:org/repo.git"


def test_git_missing_binary(git_case, monkeypatch, tmp_path):
    git_case.repo.commit({FLOW_PATH: git_case.script("v1")}, "Add my flow")
    storage = git_case.storage()
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(FlowimgError) as info:
        storage.build()
    message = str(info.value)
    assert "`git` command" in message and "install git" in message and "\n" not in message


def test_git_without_token_says_credentials_needed(git_case, monkeypatch):
    git_case.repo.commit({FLOW_PATH: git_case.script("v1")}, "Add my flow")
    storage = git_case.storage(git_token_secret_name=None)
    with pytest.raises(FlowimgError, match="needs credentials: pass git_token_secret_name"):
        storage.build()


def test_git_unknown_commit(git_case):
    git_case.repo.commit({FLOW_PATH: git_case.script("v1")}, "Add my flow")
    storage = git_case.storage(commit="0" * 40)
    with pytest.raises(FlowimgError, match="ref '0{40}' not found"):
        storage.build()


# Hosted specifics -----------------------------------------------------------------------------------

def test_github_reads_the_resolved_commit_and_public_repo_needs_no_token(github_case, monkeypatch):
    sha = github_case.repo.commit({FLOW_PATH: github_case.script("v1")}, "Add my flow")
    register(github_case)
    contents = [path for _, path, _ in github_case.server.requests if "/contents/" in path]
    assert contents and all(path.endswith(f"?ref={sha}") for path in contents)
    assert all(h.get("Authorization") == f"token {github_case.token}" for _, _, h in github_case.server.requests)

    monkeypatch.delenv("GITHUB_ACCESS_TOKEN")
    storage = github_case.storage(access_token_secret=None)
    with pytest.raises(FlowimgError, match="repository org/repo on .* not found.*private repository needs "
                                           "the secret GITHUB_ACCESS_TOKEN"):
        storage.build()
    github_case.server.public.add("org/repo")
    storage.build()
    assert storage.secret_names() == ["GITHUB_ACCESS_TOKEN"]


def test_hosted_script_cannot_import_siblings(github_case):
    script = "import hosted_helpers\nfrom flowimg import Flow\n\nflow = Flow('example')\n"
    github_case.repo.commit({FLOW_PATH: script, "flows/hosted_helpers.py": "x = 1\n"}, "flow with helper")
    storage = github_case.storage()
    storage.flows["example"] = FLOW_PATH
    with pytest.raises(FlowimgError, match="fetches only the flow file itself.*Git storage"):
        storage.get_flow("example")


def test_gitlab_numeric_project_id(request, git_repos, monkeypatch):
    case = make_case("gitlab", request, git_repos, monkeypatch)
    case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    storage = case.storage(repo=1)
    _, results = run(register(case, storage=storage), [])
    assert results["report-1"] == "v1: 15"
    assert any("/projects/1/repository/files/flows%2Fmy_flow.py/raw?ref=" in p for _, p, _ in case.server.requests)


def test_bitbucket_arguments():
    from flowimg.storage.bitbucket import Bitbucket

    with pytest.raises(FlowimgError) as info:
        Bitbucket(None, "repo", FLOW_PATH, workspace="team", access_token_secret="BITBUCKET_ACCESS_TOKEN")
    assert "\n" not in str(info.value) and "access_token_secret" in str(info.value)
    # As in Prefect 1, and as the seed's example writes it, these are made; using them says what is missing.
    for storage, missing in ((Bitbucket(None, "repo", FLOW_PATH, host="https://bitbucket.example.com"), "project="),
                             (Bitbucket("project", "org/repo", "flows/my_flow.py"), "host=")):
        with pytest.raises(FlowimgError, match=f"^Bitbucket Server storage needs {missing}"):
            storage.build()
        with pytest.raises(FlowimgError, match=f"needs {missing}"):
            storage.pin()
    cloud = Bitbucket(None, "repo", FLOW_PATH, workspace="team")
    assert cloud.secret_names() == ["BITBUCKET_USERNAME", "BITBUCKET_APP_PASSWORD"]
    assert cloud.api_base() == "https://api.bitbucket.org"


# Bad input, every kind ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["GitHub", "GitLab", "Bitbucket", "Git"])
def test_stored_as_script_false_is_refused(kind):
    from flowimg.storage import storage_class

    args = {"GitHub": ("org/repo", FLOW_PATH), "GitLab": ("org/repo", FLOW_PATH),
            "Bitbucket": ("PROJ", "repo", FLOW_PATH), "Git": ("org/repo", FLOW_PATH)}[kind]
    with pytest.raises(FlowimgError, match=f"{kind} storage only stores flows as scripts; drop stored_as_script=False"):
        storage_class(kind)(*args, host="https://h.example", stored_as_script=False) if kind == "Bitbucket" \
            else storage_class(kind)(*args, stored_as_script=False)


def test_missing_secret_is_named(case, monkeypatch):
    case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    missing = list(case.secrets)[-1]
    monkeypatch.delenv(missing)
    with pytest.raises(FlowimgError, match=f"secret '{missing}' not found"):
        case.storage().build()


def test_rejected_token(case, monkeypatch, capfd):
    case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    wrong = "wrong-" + case.token[::-1]
    secret = list(case.secrets)[-1]
    monkeypatch.setenv(secret, wrong)
    log: List[str] = []
    with pytest.raises(FlowimgError) as info:
        case.storage().build(log=log.append)
    message = str(info.value)
    assert "token rejected by 127.0.0.1:" in message and secret in message
    assert wrong not in message and case.token not in message
    assert_no_token(case, "\n".join(log), *capfd.readouterr())
    assert wrong not in "\n".join(log)


@pytest.mark.parametrize("name", ["github", "gitlab"])
def test_token_without_scope_is_rejected_403(name, request, git_repos, monkeypatch):
    case = make_case(name, request, git_repos, monkeypatch)
    monkeypatch.setenv(list(case.secrets)[0], case.server.weak_token)
    case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    with pytest.raises(FlowimgError, match="token rejected .*HTTP 403") as info:
        case.storage().build()
    assert case.server.weak_token not in str(info.value)


def test_repository_not_found(case):
    case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    other = {"github": {"repo": "org/missing"}, "gitlab": {"repo": "org/missing"},
             "bitbucket_server": {"repo": "missing"}, "bitbucket_cloud": {"repo": "missing"},
             "git": {"repo": f"{case.server.url}/org/missing.git"}}[case.name]
    for ref in (None, "main"):
        with pytest.raises(FlowimgError, match="repository .*missing.* not found") as info:
            case.storage(ref=ref, **other).build()
        assert "path" not in str(info.value).split(":")[0] and "ref '" not in str(info.value)


def test_path_not_found(case):
    sha = case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    with pytest.raises(FlowimgError, match=f"path flows/nope.py not found in .* at {short(sha)} \\(main\\)"):
        case.storage(**{case.path_key: "flows/nope.py"}).build()


def test_ref_not_found(case):
    case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    with pytest.raises(FlowimgError, match="ref 'no-such-branch' not found"):
        case.storage(ref="no-such-branch").build()
    with pytest.raises(FlowimgError, match="ref 'no-such-branch' not found"):
        case.storage(ref="no-such-branch").pin()


def test_unreachable_host(case):
    port = closed_port()
    address = f"http://127.0.0.1:{port}"
    over = {"github": {"base_url": address}, "gitlab": {"host": address},
            "bitbucket_server": {"host": address}, "bitbucket_cloud": {"host": address},
            "git": {"repo": f"{address}/org/repo.git"}}[case.name]
    with pytest.raises(FlowimgError, match=f"cannot reach 127.0.0.1:{port}") as info:
        case.storage(**over).build()
    assert "\n" not in str(info.value)


def test_no_token_in_settings_repr_or_describe(case):
    case.repo.commit({FLOW_PATH: case.script("v1")}, "Add my flow")
    storage = case.storage()
    register(case, storage=storage)
    storage.pin()
    texts = [repr(storage.to_dict()), repr(storage), storage.describe(), repr(storage.secret_names())]
    assert_no_token(case, *texts)
    assert set(storage.secret_names()) == set(case.secrets)
    assert from_dict(storage.to_dict()).to_dict() == storage.to_dict()
