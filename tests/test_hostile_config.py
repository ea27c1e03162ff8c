"""Hostile surroundings for configuration: a flowimg.yaml planted above the project or the home
folder, one owned by another user, and a PostgreSQL password on the command line (visible in `ps`).
"""
from __future__ import annotations

import os
import stat

import pytest

from cli_helpers import one_line_error, run_bounded, seed_flow
from postgres_service import TEST_USER
from flowimg import FlowimgError
from flowimg.loading import load_script
from flowimg.settings import find_defaults
from flowimg.storage import Docker

PLANTED = "docker:\n  registry_url: evil.example.com:5000\n  extra_dockerfile_commands: ['RUN touch /planted']\n"


def project_flow(project, marker=None):
    """project/flows/f.py, with `marker` (a file or folder name) at the project root."""
    script = project / "flows" / "f.py"
    script.parent.mkdir(parents=True)
    script.write_text(seed_flow())
    if marker == ".git":
        (project / ".git").mkdir()
    elif marker:
        (project / marker).write_text("[project]\nname = 'p'\n" if marker == "pyproject.toml" else "{}\n")
    return script


@pytest.mark.parametrize("marker", ["pyproject.toml", ".git", "flowimg.yaml"])
def test_a_config_above_the_project_root_does_not_apply(tmp_path, marker):
    (tmp_path / "flowimg.yaml").write_text(PLANTED)        # e.g. in a world-writable /tmp
    script = project_flow(tmp_path / "project", marker)
    config, folder = find_defaults(str(script))
    assert config == {} and folder in (str(tmp_path / "project"), str(tmp_path / "project" / "flows"))
    storage = Docker(path="/opt/f.py", files={str(script): "/opt/f.py"}, stored_as_script=True)
    storage.add_flow(load_script(str(script))["example"], str(script))
    assert storage.registry_url is None and not storage.extra_dockerfile_commands


def test_the_project_roots_own_config_still_applies(tmp_path):
    (tmp_path / "flowimg.yaml").write_text(PLANTED)
    script = project_flow(tmp_path / "project")
    (tmp_path / "project" / "pyproject.toml").write_text('[tool.flowimg.docker]\nimage_tag = "nightly"\n')
    config, folder = find_defaults(str(script))
    assert config == {"docker": {"image_tag": "nightly"}} and folder == str(tmp_path / "project")


def test_the_search_stops_at_the_home_folder(tmp_path, monkeypatch):
    (tmp_path / "flowimg.yaml").write_text(PLANTED)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    script = project_flow(home / "loose")                 # no project markers anywhere below home
    assert find_defaults(str(script)) == ({}, str(home))


def test_a_config_owned_by_another_user_is_refused(tmp_path):
    script = project_flow(tmp_path / "project")
    planted = tmp_path / "project" / "flowimg.yaml"
    planted.write_text(PLANTED)
    try:
        os.chown(planted, 4711, 4711)
    except PermissionError:
        pytest.fail("this test needs to run as root (it hands a file to another user)", pytrace=False)
    with pytest.raises(FlowimgError, match=f"{planted} belongs to another user \\(uid 4711\\)"):
        find_defaults(str(script))


# PostgreSQL: the password stays out of the URL ---------------------------------------------------

def _url_without_password(server, dbname="flowimg"):
    return f"postgresql://{TEST_USER}@127.0.0.1:{server.port}/{dbname}"


def _clean_env(monkeypatch, tmp_path):
    """No password from the developer's own set-up: no PGPASSWORD, an empty home for ~/.pgpass."""
    for name in ("PGPASSWORD", "PGPASSFILE", "FLOWIMG_BACKEND_PASSWORD_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_password_from_a_named_secret(postgres_server, cli, monkeypatch, tmp_path):
    _clean_env(monkeypatch, tmp_path)
    url = _url_without_password(postgres_server)
    env = {"FLOWIMG_BACKEND_PASSWORD_SECRET": "REGISTRY_DB_PASSWORD", "REGISTRY_DB_PASSWORD": postgres_server.password}
    result = cli("project", "create", "HostileSecret", "--backend", url, env=env)
    assert "Warning" not in result.stderr and postgres_server.password not in result.stdout + result.stderr
    assert "HostileSecret" in cli("project", "list", "--backend", url, env=env).stdout


def test_password_from_pgpassfile(postgres_server, cli, monkeypatch, tmp_path):
    _clean_env(monkeypatch, tmp_path)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_server.port}:*:{TEST_USER}:{postgres_server.password}\n")
    passfile.chmod(stat.S_IRUSR | stat.S_IWUSR)
    result = cli("project", "list", "--backend", _url_without_password(postgres_server),
                 env={"PGPASSFILE": str(passfile)})
    assert "Warning" not in result.stderr


def test_a_missing_password_secret_is_one_line(postgres_server, cli, monkeypatch, tmp_path):
    _clean_env(monkeypatch, tmp_path)
    result = cli("project", "list", "--backend", _url_without_password(postgres_server), ok=False,
                 env={"FLOWIMG_BACKEND_PASSWORD_SECRET": "NO_SUCH_SECRET_4711"})
    line = one_line_error(result)
    assert "FLOWIMG_BACKEND_PASSWORD_SECRET=NO_SUCH_SECRET_4711" in line and "secret 'NO_SUCH_SECRET_4711' not found" in line


def test_a_password_in_a_command_line_url_warns_in_one_line(tmp_path, monkeypatch):
    _clean_env(monkeypatch, tmp_path)
    url = "postgresql://flow:hunter2-secret@127.0.0.1:1/registry"
    result = run_bounded(tmp_path, "project", "list", "--backend", url)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "ps" in warnings[0] and "PGPASSWORD" in warnings[0]
    assert "FLOWIMG_BACKEND_PASSWORD_SECRET" in warnings[0]
    assert "hunter2-secret" not in result.stdout + result.stderr
    one_line_error(result)   # unreachable: still one error line after the warning


def test_no_warning_for_the_environment_variable(tmp_path, monkeypatch):
    _clean_env(monkeypatch, tmp_path)
    result = run_bounded(tmp_path, "project", "list",
                         env={"FLOWIMG_BACKEND": "postgresql://flow:hunter2-secret@127.0.0.1:1/registry"})
    assert "Warning" not in result.stderr
    one_line_error(result)
