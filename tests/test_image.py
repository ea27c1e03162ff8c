"""Render, build context and manifest: pure functions, checked without an engine."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from cli_helpers import seed_flow
from flowimg import FlowimgError
from flowimg.image.context import build_context
from flowimg.image.spec import ImageSpec, check_files, check_repository, check_tag
from flowimg.loading import load_script
from flowimg.manifest import MANIFEST_LABEL, build_manifest, dumps, loads
from flowimg.storage import Docker


def docker_storage(tmp_path, **kwargs):
    script = tmp_path / "my_flow.py"
    script.write_text(seed_flow())
    storage = Docker(path="/opt/flows/my_flow.py", files={str(script): "/opt/flows/my_flow.py"},
                     stored_as_script=True, registry_url="localhost:5000", base_image="base:1", **kwargs)
    storage.add_flow(load_script(str(script))["example"], str(script))
    return storage, script


def test_dockerfile_puts_dependencies_before_code_and_code_last(tmp_path):
    storage, _ = docker_storage(tmp_path, python_dependencies=["tinydep==1.0"], wheelhouse=str(tmp_path))
    _, dockerfile, _ = storage.render()
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith(" ")]
    assert lines[0] == "FROM base:1"
    order = [next(i for i, line in enumerate(lines) if line.startswith(p)) for p in ("RUN python3 -m pip", "COPY flowimg/lib", "COPY code/ /", "LABEL")]
    assert order == sorted(order)
    assert "--no-index --find-links /opt/flowimg/wheelhouse tinydep==1.0 \\\n" in dockerfile


def test_user_template_overrides_a_block(tmp_path):
    template = tmp_path / "Dockerfile.j2"
    template.write_text('{% extends "Dockerfile.j2" %}{% block extra_commands %}RUN echo custom{% endblock %}')
    storage, _ = docker_storage(tmp_path, dockerfile=str(template))
    _, dockerfile, _ = storage.render()
    assert "RUN echo custom" in dockerfile and "COPY code/ /" in dockerfile


def test_plain_user_dockerfile_becomes_the_base(tmp_path):
    user = tmp_path / "Dockerfile"
    user.write_text("FROM mybase:2\nRUN echo hi\n")
    storage, _ = docker_storage(tmp_path, dockerfile=str(user))
    _, dockerfile, _ = storage.render()
    assert dockerfile.startswith("FROM mybase:2\nRUN echo hi")


def test_context_is_deterministic_and_normalised(tmp_path):
    storage, script = docker_storage(tmp_path)
    first_bytes, second_bytes = io.BytesIO(), io.BytesIO()
    first = storage.render(out=first_bytes)[2]
    os.utime(script, (1, 1))
    second = storage.render(out=second_bytes)[2]
    assert first_bytes.getvalue() == second_bytes.getvalue() and first.digest == second.digest
    assert storage.render()[2].digest == first.digest  # hashing alone (plan) gives the digest of the bytes
    with tarfile.open(fileobj=io.BytesIO(first_bytes.getvalue()), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 315532800)}
    assert "code/opt/flows/my_flow.py" in first.names and "code/opt/flowimg/manifest.json" in first.names
    assert any(n.endswith("flowimg/runtime.py") for n in first.names)


def test_a_task_edit_changes_only_the_code(tmp_path):
    storage, script = docker_storage(tmp_path)
    spec_before, _, before = storage.render()
    script.write_text(seed_flow(printed="'edited', data"))
    spec_after, _, after = storage.render()
    assert before.digest != after.digest
    m_before, m_after = loads(spec_before.manifest_text, "a"), loads(spec_after.manifest_text, "b")
    assert m_before["flows"]["example"]["structure_hash"] == m_after["flows"]["example"]["structure_hash"]
    assert m_before["flows"]["example"]["script_sha256"] != m_after["flows"]["example"]["script_sha256"]


def test_manifest_records_what_the_runtime_needs(tmp_path):
    storage, _ = docker_storage(tmp_path)
    spec = storage.image_spec()
    manifest = loads(spec.labels[MANIFEST_LABEL], "label")
    entry = manifest["flows"]["example"]
    assert manifest["schema_version"] == 1 and manifest["flowimg_version"] and manifest["python_version"]
    assert entry["path"] == "/opt/flows/my_flow.py" and entry["stored_as_script"] is True
    assert entry["storage_kind"] == "Docker" and len(entry["script_sha256"]) == 64
    assert spec.labels["org.opencontainers.image.version"] == "latest"
    assert dumps(build_manifest([], "1", "3")) == '{"flowimg_version":"1","flows":{},"python_version":"3","schema_version":1}'
    with pytest.raises(FlowimgError, match="schema version 99"):
        loads('{"schema_version": 99}', "x")


@pytest.mark.parametrize("files, message", [
    ({"relative.py": "/x.py"}, "is relative"),
    ({"/no/such/file.py": "/x.py"}, "does not exist"),
])
def test_bad_files_sources(files, message):
    with pytest.raises(FlowimgError, match=message):
        check_files(files)


def test_relative_files_destinations_resolve_against_the_workdir(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("")
    assert [c.dest for c in check_files({str(a): "my_flow.py"})] == ["/my_flow.py"]
    assert [c.dest for c in check_files({str(a): "flows/../x.py"}, "/app")] == ["/app/x.py"]
    assert [c.dest for c in check_files({str(a): "flows/"}, "/app")] == ["/app/flows/a.py"]


def test_odd_files_destinations_are_refused(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("")
    b.write_text("")
    folder = tmp_path / "pkg"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.py").write_text("")
    root = tmp_path / "root"
    (root / "opt" / "flowimg").mkdir(parents=True)
    cases = [
        ({str(a): "/opt/x.py", str(b): "/opt/x.py"}, "only one of them could be at /opt/x.py"),
        ({str(a): "/"}, "onto /"),
        ({str(a): "/opt/flowimg/manifest.json"}, "inside /opt/flowimg"),
        ({str(a): "../opt/flowimg/lib/flowimg/runtime.py"}, "inside /opt/flowimg"),
        ({str(root): "/"}, "would cover /opt/flowimg"),
        ({str(folder): "/opt/flows", str(a): "/opt/flows/sub/a.py"}, "only one of them could be at /opt/flows/sub/a.py"),
        ({str(a): "/opt/a", str(b): "/opt/a/b.py"}, "only one of them could be at /opt/a/b.py"),
        ({str(a): "x.py\nRUN id"}, "is not a path"),
    ]
    for files, message in cases:
        with pytest.raises(FlowimgError, match=message):
            check_files(files)
    # Beside each other, a folder and a file that it does not hold are fine.
    assert len(check_files({str(folder): "/opt/flows", str(a): "/opt/flows/other.py"})) == 2


@pytest.mark.parametrize("name", ["UPPER", "bad//name", "-lead", "a:b:c"])
def test_invalid_image_names(name):
    with pytest.raises(FlowimgError, match="invalid image name"):
        check_repository(name)


def test_valid_names_and_tags():
    assert check_repository("localhost:5000/team/flows") == "localhost:5000/team/flows"
    assert check_tag("v1.2_3") == "v1.2_3"
    with pytest.raises(FlowimgError, match="invalid image tag"):
        check_tag("-bad")


def test_script_storage_needs_a_path():
    with pytest.raises(FlowimgError, match="needs path="):
        Docker(stored_as_script=True)


def test_context_bytes_match_a_golden_digest_whatever_the_clock_and_the_files_metadata(tmp_path):
    """Fails if an mtime, owner, mode or the gzip timestamp leaks into the context."""
    script = tmp_path / "flow.py"
    script.write_text("print('hi')\n")
    os.utime(script, (1_700_000_000, 1_700_000_000))
    script.chmod(0o600)
    spec = ImageSpec(base_image="b", repository="r", tag="t", copies=check_files({str(script): "/opt/flows/flow.py"}),
                     manifest_text='{"schema_version":1}')
    out = io.BytesIO()
    context = build_context(spec, "FROM b\n", [], out)
    data = out.getvalue()
    assert data[4:8] == b"\0\0\0\0"  # gzip MTIME
    assert context.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(gzip.decompress(data)).hexdigest() == GOLDEN_TAR_SHA256
    assert context.names == ("Dockerfile", "code/opt/flowimg/manifest.json", "code/opt/flows/flow.py")


GOLDEN_TAR_SHA256 = "005f4e3fd9c700053ca97cc5cd1a1ba3980ef1d7507c1130ff5c07992752701f"


@pytest.mark.parametrize("reference, parts", [
    ("localhost:5000/team/runner:1", ("localhost:5000", "team/runner", "1")),
    ("runner", (None, "runner", "latest")),
    ("registry.example/runner", ("registry.example", "runner", "latest")),
    ("team/runner:v2", (None, "team/runner", "v2")),
])
def test_run_image_references_split_into_registry_name_and_tag(reference, parts):
    from flowimg.building import split_reference

    assert split_reference(reference) == parts


def test_a_run_image_holds_the_runtime_and_the_storages_clients(tmp_path):
    from flowimg.building import run_image_storage
    from flowimg.storage import S3

    storage = run_image_storage([S3(bucket="b", stored_as_script=True, key="k.py")], "localhost:5000/runner:1",
                                "base:1", str(tmp_path), ["extra-dist"])
    _, dockerfile, context = storage.render()
    assert " boto3 extra-dist \\\n" in dockerfile and storage.run_image() == "localhost:5000/runner:1"
    assert any(n.endswith("flowimg/runtime.py") for n in context.names)


def test_container_output_is_redacted_even_when_a_secret_spans_chunks():
    from flowimg.image.engine import LineStream

    shown, output = [], []
    lines = LineStream(shown.append, ["tok-123456"], output)
    for chunk in (b"token tok-12", b"3456 used\n\xc3", b"\xa9t\xc3\xa9\nlast"):
        lines.feed(chunk)
    lines.close()
    assert shown == ["token *** used", "été", "last"]
    assert "tok-123456" not in "".join(output)


def test_a_manifest_from_flowimg_0_1_with_local_paths_still_loads_its_flow(tmp_path, monkeypatch, capsys):
    """Images built before settings held digests keep running: the old storage shape is read as is."""
    from flowimg.runtime import main

    script = tmp_path / "my_flow.py"
    script.write_text(seed_flow())
    flow = load_script(str(script))["example"]
    storage = {"kind": "Docker", "stored_as_script": True, "flows": {"example": str(script)}, "settings": {
        "path": str(script), "files": {"/home/dev/project/my_flow.py": str(script)}, "registry_url": "localhost:5000",
        "image_name": "example", "image_tag": "latest", "base_image": "base:1", "python_dependencies": [],
        "env_vars": {}, "extra_dockerfile_commands": [], "dockerfile": "/home/dev/project/Dockerfile",
        "build_kwargs": {}, "ignore_healthchecks": False, "wheelhouse": "/home/dev/project/wheels"}}
    entry = {"name": "example", "path": str(script), "stored_as_script": True, "storage_kind": "Docker",
             "storage": storage, "structure": flow.structure(), "structure_hash": flow.structure_hash(),
             "script_sha256": "0" * 64}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(dumps(build_manifest([entry], "0.1.0", "3.11.7")))
    monkeypatch.setenv("FLOWIMG_MANIFEST", str(manifest))
    assert main(["example"]) == 0
    assert capsys.readouterr().out.strip() == "[1, 2, 3, 4, 5]"


def test_registered_docker_settings_hold_no_local_paths(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "x-1-py3-none-any.whl").write_bytes(b"wheel")
    template = tmp_path / "Dockerfile.j2"
    template.write_text('{% extends "Dockerfile.j2" %}')
    storage, _ = docker_storage(tmp_path, wheelhouse=str(wheels), dockerfile=str(template))
    settings = storage.to_dict()["settings"]
    assert str(tmp_path) not in json.dumps(settings)
    assert settings["files"] == ["/opt/flows/my_flow.py"]
    assert settings["dockerfile"] == "sha256:" + hashlib.sha256(template.read_bytes()).hexdigest()
    assert settings["wheelhouse"].startswith("sha256:") and len(settings["wheelhouse"]) == 71
    (wheels / "x-1-py3-none-any.whl").write_bytes(b"other wheel")
    assert storage.to_dict()["settings"]["wheelhouse"] != settings["wheelhouse"]
    from flowimg.storage import from_dict

    again = from_dict(storage.to_dict())
    assert again.to_dict() == storage.to_dict() and again.files == {}


def test_plan_without_an_engine_says_it_assumed_the_root_for_relative_paths(cli, tmp_path):
    script = tmp_path / "my_flow.py"
    script.write_text(seed_flow(imports="from flowimg.storage import Docker", storage=(
        f"flow.storage = Docker(path='my_flow.py', files={{{str(script)!r}: 'my_flow.py'}}, stored_as_script=True, "
        "base_image='base:1')\n")))
    plan = cli("plan", "-p", str(script), env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}).stdout
    assert "# flow example: /my_flow.py" in plan
    assert "# note: relative paths resolved against / (no engine to read base:1's WorkingDir)" in plan
    assert "  code/my_flow.py" in plan.splitlines()


def test_a_storage_read_back_from_its_registered_settings_finds_flows_mapped_only_through_files(tmp_path):
    from flowimg.storage import from_dict

    script = tmp_path / "f.py"
    script.write_text(seed_flow())
    storage = Docker(files={str(tmp_path): "/opt/flows"}, stored_as_script=True, base_image="base:1")
    storage.add_flow(load_script(str(script))["example"], str(script))
    again = from_dict(storage.to_dict())
    assert again.flows == {"example": "/opt/flows/f.py"} and again.to_dict() == storage.to_dict()


@pytest.mark.parametrize("lines, expected", [
    ([], ("base:1", None)),
    (["FROM python:3.11 AS build", "WORKDIR /src", "FROM other:2", "WORKDIR app", "WORKDIR sub"], ("other:2", "app/sub")),
    (["FROM other:2", "WORKDIR /app", "RUN true", "workdir 'sub dir'"], ("other:2", "/app/sub dir")),
    (["FROM {{ base_image }}", "WORKDIR $HOME"], ("base:1", None)),
])
def test_the_final_stage_and_its_workdir_are_read_from_the_dockerfile_lines(lines, expected):
    from flowimg.image.workdir import final_stage

    assert final_stage(lines, "base:1") == expected
