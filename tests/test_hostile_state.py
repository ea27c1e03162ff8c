"""Hostile names, files and settings around registration and runs: one line each, nothing half-written."""
from __future__ import annotations

import os

import pytest

from cli_helpers import one_line_error, seed_flow
from flowimg import FlowimgError
from flowimg.loading import load_script
from flowimg.secrets import get_secret
from flowimg.storage import Docker, Local, from_dict


def flow_named(tmp_path, name: str):
    script = tmp_path / f"flow_{abs(hash(name))}.py"
    script.write_text(seed_flow(name=name.replace('"', '\\"')))
    return load_script(str(script))[name], str(script)


def test_pickled_flows_whose_names_slug_alike_are_refused(tmp_path):
    storage = Docker(image_name="team/flows", base_image="b:1")
    storage.add_flow(*flow_named(tmp_path, "My Flow"))
    with pytest.raises(FlowimgError, match=r"flows 'My Flow' and 'my-flow' would share the pickle "
                                           r"/opt/flowimg/flows/my-flow.flowpickle in one image; rename one"):
        storage.add_flow(*flow_named(tmp_path, "my-flow"))


@pytest.mark.parametrize("name", ["../../escape", "..", "/etc/cron.d/x", "a/../../b", ".hidden", "ok name"])
def test_local_pickles_stay_under_flowimg_home(tmp_path, flowimg_home, name):
    storage = Local()
    location = storage.add_flow(*flow_named(tmp_path, name))
    storage.build()
    flows = os.path.realpath(flowimg_home / "flows")
    assert os.path.realpath(location).startswith(flows + os.sep) and os.path.dirname(os.path.dirname(location)) == flows
    assert from_dict(storage.to_dict()).get_flow(name).name == name
    assert sorted(os.listdir(flowimg_home)) == ["flows"]


def test_local_pickles_of_names_that_slug_alike_stay_apart(tmp_path):
    storage = Local()
    first = storage.add_flow(*flow_named(tmp_path, "a/b"))
    second = storage.add_flow(*flow_named(tmp_path, "a b/"))
    assert os.path.dirname(first) != os.path.dirname(second)


def test_a_local_pickle_is_checked_by_digest_and_name(tmp_path):
    storage = Local()
    a = storage.add_flow(*flow_named(tmp_path, "alpha"))
    b = storage.add_flow(*flow_named(tmp_path, "beta"))
    storage.build()
    swapped = from_dict({**storage.to_dict(), "flows": {"alpha": b, "beta": b}})
    with pytest.raises(FlowimgError, match=f"{b} holds flow 'beta', not 'alpha'; re-register flow 'alpha'"):
        swapped.get_flow("alpha")
    with open(a, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(FlowimgError, match="was changed after registration; re-register flow 'alpha'"):
        storage.get_flow("alpha")


def test_a_register_that_fails_creates_no_project(cli, tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    result = cli("register", "-p", "broken.py", "--project", "Ghost", ok=False)
    assert result.returncode == 1 and "boom" in result.stdout
    assert cli("project", "list").stdout == ""
    (tmp_path / "good.py").write_text(seed_flow())
    assert "Done" in cli("register", "-p", "good.py", "--project", "Ghost").stdout
    assert cli("project", "list").stdout.split() == ["Ghost"]


@pytest.mark.parametrize("reference, expected", [
    ("", "run-image needs the image to make"),
    ("  ", "run-image needs the image to make"),
    ("Runner:1", "invalid image reference 'Runner:1'"),
    ("runner:-x", "invalid image reference 'runner:-x'"),
])
def test_run_image_refuses_empty_or_invalid_references(cli, reference, expected):
    assert expected in one_line_error(cli("run-image", reference, "--no-push", ok=False))


def write_secrets(home, text: str):
    path = home / "secrets.json"
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("value", ["null", "5", "[\"a\"]", "{\"k\": \"v\"}", "true"])
def test_a_secret_that_is_not_a_string_is_refused(flowimg_home, value):
    write_secrets(flowimg_home, '{"TOKEN": %s, "OTHER": "fine"}' % value)
    with pytest.raises(FlowimgError, match=r"the value of TOKEN is not a string; write each secret as "):
        get_secret("OTHER")


def test_a_fifo_as_secrets_file_is_refused_not_waited_on(flowimg_home, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    os.symlink(fifo, flowimg_home / "secrets.json")
    with pytest.raises(FlowimgError, match="is not a regular file"):
        get_secret("TOKEN")


def test_a_script_that_is_not_utf8_is_one_line_in_register(cli, tmp_path):
    (tmp_path / "latin1.py").write_bytes(seed_flow().encode() + b"# caf\xe9\n")
    result = cli("register", "-p", "latin1.py", "--project", "P", ok=False)
    assert "latin1.py is not UTF-8 text" in result.stdout and "unexpected" not in result.stdout + result.stderr


DOCKER_FLOW = seed_flow(imports="from flowimg.storage import Docker",
                        storage="flow.storage = Docker(path='/opt/f.py', stored_as_script=True, base_image='b:1')\n")


@pytest.mark.parametrize("yaml_line, expected", [
    ('env_vars: "A=1"', "env_vars must be a mapping of NAME: value"),
    ('python_dependencies: "requests"', "python_dependencies must be a list of strings"),
    ("python_dependencies: [1, 2]", "python_dependencies must be a list of strings"),
    ("extra_dockerfile_commands: RUN x", "extra_dockerfile_commands must be a list of strings"),
    ("image_tag: 5", "image_tag must be a string, not int 5"),
    ("build_kwargs: [1]", "build_kwargs must be a mapping"),
])
def test_project_defaults_of_the_wrong_type_are_one_line(cli, tmp_path, yaml_line, expected):
    (tmp_path / "f.py").write_text(DOCKER_FLOW)
    (tmp_path / "flowimg.yaml").write_text(f"docker:\n  {yaml_line}\n")
    line = one_line_error(cli("plan", "-p", "f.py", ok=False))
    assert f"docker setting in the flowimg config in {tmp_path}: {expected}" in line


@pytest.mark.parametrize("kwargs, expected", [
    ({"python_dependencies": "requests"}, "python_dependencies must be a list of strings"),
    ({"env_vars": "A=1"}, "env_vars must be a mapping"),
    ({"files": {"/a.py": 5}}, "files must be a mapping of path: path"),
    ({"image_name": ["x"]}, "image_name must be a string"),
])
def test_docker_storage_arguments_of_the_wrong_type(kwargs, expected):
    with pytest.raises(FlowimgError, match=f"Docker storage: {expected}"):
        Docker(**kwargs)


def test_local_storage_arguments_of_the_wrong_type():
    with pytest.raises(FlowimgError, match="Local storage: path must be a string, not int 5"):
        Local(path=5)


def test_a_huge_version_number_is_one_line(cli, tmp_path):
    (tmp_path / "f.py").write_text(seed_flow())
    cli("register", "-p", "f.py", "--project", "P")
    line = one_line_error(cli("run", "example", "--project", "P", "--version", str(10 ** 30), ok=False))
    assert f"version {10 ** 30} cannot exist" in line


@pytest.mark.parametrize("url", ["postgresql://u:pw-secret@[::1/db", "postgresql://u:pw-secret@[zz]:5432/db"])
def test_a_garbled_postgresql_url_is_one_line_without_the_password(cli, url):
    line = one_line_error(cli("flows", "list", "--backend", url, ok=False))
    assert "malformed" in line and "pw-secret" not in line and "unexpected" not in line
