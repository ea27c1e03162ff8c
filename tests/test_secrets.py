"""Secrets by name: environment first, then FLOWIMG_HOME/secrets.json (only if private)."""
from __future__ import annotations

import json
import os

import pytest

from cli_helpers import seed_flow
from flowimg import FlowimgError
from flowimg.secrets import get_secret, load_secret_files, redact, secret_environment


def write_secrets(home, data, mode=0o600):
    path = home / "secrets.json"
    path.write_text(json.dumps(data))
    os.chmod(path, mode)
    return path


def test_environment_wins_over_the_file(flowimg_home, monkeypatch):
    write_secrets(flowimg_home, {"TOKEN": "from-file"})
    assert get_secret("TOKEN") == "from-file"
    monkeypatch.setenv("TOKEN", "from-env")
    assert get_secret("TOKEN") == "from-env"


def test_a_file_readable_by_others_is_refused(flowimg_home):
    path = write_secrets(flowimg_home, {"TOKEN": "x"}, mode=0o644)
    with pytest.raises(FlowimgError, match=rf"readable by others \(mode 644\); run: chmod 600 {path}"):
        get_secret("TOKEN")


def test_missing_secret_names_it_and_where_it_was_looked_for(flowimg_home):
    with pytest.raises(FlowimgError) as err:
        get_secret("GITHUB_ACCESS_TOKEN")
    assert "secret 'GITHUB_ACCESS_TOKEN' not found" in str(err.value)
    assert "environment variable GITHUB_ACCESS_TOKEN" in str(err.value) and str(flowimg_home) in str(err.value)


def test_run_environment_holds_only_named_secrets_that_exist(monkeypatch, flowimg_home):
    monkeypatch.setenv("A_TOKEN", "a")
    monkeypatch.setenv("UNRELATED", "u")
    assert secret_environment(["A_TOKEN", "MISSING"]) == {"A_TOKEN": "a"}
    assert redact("token a1b2 here", ["a1b2"]) == "token *** here"


def test_secret_files_of_a_swarm_run_become_environment_unless_already_set(tmp_path, monkeypatch):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "FROM_FILE").write_text("v1\n")
    (folder / "ALREADY_SET").write_text("from-file")
    (folder / "sub").mkdir()
    monkeypatch.setenv("ALREADY_SET", "from-env")
    monkeypatch.delenv("FROM_FILE", raising=False)
    monkeypatch.delenv("sub", raising=False)
    load_secret_files(str(folder))
    assert os.environ["FROM_FILE"] == "v1\n" and os.environ["ALREADY_SET"] == "from-env" and "sub" not in os.environ
    with pytest.raises(FlowimgError, match="cannot read the run's secrets in .*missing"):
        load_secret_files(str(tmp_path / "missing"))


def test_cli_refuses_a_public_secrets_file(cli, tmp_path, flowimg_home):
    write_secrets(flowimg_home, {"AWS_CREDENTIALS": "{}"}, mode=0o644)
    (tmp_path / "f.py").write_text(seed_flow())
    cli("register", "-p", "f.py", "--project", "P")
    script = tmp_path / "s3.py"
    script.write_text(seed_flow(name="s3flow", imports="from flowimg.storage import S3",
                                storage="flow.storage = S3(bucket='b', stored_as_script=True, key='k.py')\n"))
    result = cli("register", "-p", "s3.py", "--project", "P", ok=False)
    assert result.returncode == 1 and "readable by others" in result.stdout
