"""The registry builder against real registries on loopback: no daemon build, reproducible digests,
basic and token auth, a registry dying mid-push, and an image index for two platforms."""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import zipfile

import pytest

from cli_helpers import one_line_error, seed_flow
from docker_service import REGISTRY, docker
from flowimg.image.context import Entry
from flowimg.image.layers import make_layer
from flowimg.image.registry_client import Registry, docker_credentials, parse_challenge
from registry_services import PASSWORD, USER, docker_config, env_without_docker_config


def write_flow(folder, name, base, registry=REGISTRY, printed="data", extra=""):
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "flow.py"
    # The script names itself through __file__, so two checkouts hold byte-identical scripts.
    storage = ("import os\n"
               "flow.storage = Docker(path='/opt/flows/flow.py', files={os.path.abspath(__file__): '/opt/flows/flow.py'},\n"
               f"    stored_as_script=True, registry_url={registry!r}, image_name={name!r}, base_image={base!r},\n"
               f"    builder='registry'{extra})\n")
    script.write_text(seed_flow(printed=printed, imports="from flowimg.storage import Docker", storage=storage))
    return script


def manifest_of(host, repository, reference="latest"):
    data, media_type, digest = Registry(host, use_docker_config=False).get_manifest(repository, reference)
    return json.loads(data), media_type, digest


# -- pure parts ------------------------------------------------------------------------------------
def test_layers_are_byte_identical_for_the_same_files_and_normalised(tmp_path, monkeypatch):
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        (tmp_path / where / "x.py").write_text("print(1)\n")
        os.utime(tmp_path / where / "x.py", (1, 1 if where == "a" else 999999))
    first = make_layer("code", {"opt/x.py": Entry(kind="file", path=str(tmp_path / "a" / "x.py"))}, "COPY")
    second = make_layer("code", {"opt/x.py": Entry(kind="file", path=str(tmp_path / "b" / "x.py"))}, "COPY")
    assert first.digest == second.digest
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first.blob))) as tar:
        members = tar.getmembers()
    assert [(m.name, m.mtime, m.uid, m.gid, oct(m.mode)) for m in members] == [
        ("opt", 0, 0, 0, "0o755"), ("opt/x.py", 0, 0, 0, "0o644")]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = make_layer("code", {"opt/x.py": Entry(kind="file", path=str(tmp_path / "a" / "x.py"))}, "COPY")
    assert dated.digest != first.digest
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(dated.blob))) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


def test_challenge_parsing_and_credentials_from_the_docker_config(tmp_path, monkeypatch):
    scheme, params = parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                                     'scope="repository:a/b:pull,push"')
    assert (scheme, params) == ("bearer", {"realm": "https://auth.example/token", "service": "reg",
                                           "scope": "repository:a/b:pull,push"})
    env = docker_config(tmp_path / "cfg", "reg.example:443")
    monkeypatch.setenv("DOCKER_CONFIG", env["DOCKER_CONFIG"])
    found = docker_credentials("reg.example:443")
    assert (found.username, found.password) == (USER, PASSWORD)
    assert PASSWORD not in repr(found)
    helper = tmp_path / "bin" / "docker-credential-flowimgtest"
    helper.parent.mkdir()
    helper.write_text("#!/bin/sh\nread host\necho '{\"ServerURL\":\"'$host'\",\"Username\":\"helper-user\",\"Secret\":\"helper-pw\"}'\n")
    helper.chmod(0o755)
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"credHelpers": {"other.example": "flowimgtest"}}))
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    found = docker_credentials("other.example")
    assert (found.username, found.password) == ("helper-user", "helper-pw")
    assert docker_credentials("unlisted.example") is None
    assert Registry("reg.example").plain_http is False and Registry("127.0.0.1:5000").plain_http is True


def test_image_config_golden():
    """The whole config for a fixed base and spec: what the Dockerfile's ENV, ENTRYPOINT and LABEL set."""
    from flowimg.image.layers import image_config
    from flowimg.image.spec import ImageSpec

    base = {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z", "container": "abc",
            "config": {"Env": ["PATH=/usr/bin", "PYTHONPATH=/base"], "Cmd": ["bash"], "WorkingDir": "/",
                       "Labels": {"base": "yes"}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:base"]},
            "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "import"}]}
    spec = ImageSpec(base_image="r/base:1", repository="r/flows", tag="1", env_vars=(("TEAM", "data"),),
                     labels={"io.flowimg.manifest": "{}", "io.flowimg.version": "0.1.0"})
    code = make_layer("code", {"opt/f.py": Entry(kind="blob", data=b"x")}, "COPY code/ /")
    assert image_config(base, spec, [code]) == {
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin", "PYTHONPATH=/opt/flowimg/lib", "PYTHONDONTWRITEBYTECODE=1",
                           "PYTHONUNBUFFERED=1", "TEAM=data"],
                   "Cmd": None, "Entrypoint": ["python3", "-m", "flowimg.runtime"], "WorkingDir": "/",
                   "Labels": {"base": "yes", "io.flowimg.manifest": "{}", "io.flowimg.version": "0.1.0"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:base", code.diff_id]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "import"},
                    {"created": "1970-01-01T00:00:00Z", "created_by": "ENV PYTHONPATH=/opt/flowimg/lib ...",
                     "empty_layer": True},
                    {"created": "1970-01-01T00:00:00Z", "created_by": "COPY code/ /"},
                    {"created": "1970-01-01T00:00:00Z", "created_by": "LABEL io.flowimg.manifest=...",
                     "empty_layer": True}]}


# -- against the tests' registry (anonymous) ---------------------------------------------------------
def test_build_pushes_without_a_daemon_build_and_runs_by_digest(cli, tmp_path, base_in_registry, image_name,
                                                               no_new_containers):
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    built = cli("build", "-p", str(script))
    reference = built.stdout.strip()
    assert reference.startswith(f"{REGISTRY}/{image_name}@sha256:")
    assert "mounted base layer" in built.stderr and "uploaded code" in built.stderr
    manifest, media_type, digest = manifest_of(REGISTRY, image_name)
    assert media_type == "application/vnd.oci.image.manifest.v1+json" and reference.endswith(digest)
    base, _, _ = manifest_of(REGISTRY, "flowimg/python-base", "bookworm")
    assert [layer["digest"] for layer in manifest["layers"][:len(base["layers"])]] == [
        layer["digest"] for layer in base["layers"]]
    ran = docker("run", "--rm", "--network", "none", reference, "example")
    assert "Flow 'example': Success" in ran.stdout + ran.stderr
    again = cli("build", "-p", str(script))
    assert "unchanged" in again.stderr and "uploaded code" not in again.stderr and again.stdout == built.stdout
    planned = cli("plan", "-p", str(script)).stdout
    assert "# builder: registry" in planned and "unchanged" in planned and " upload" not in planned
    script.write_text(script.read_text().replace("print(data)", "print('edited', data)"))
    planned = cli("plan", "-p", str(script)).stdout
    code_line = next(line for line in planned.splitlines() if line.startswith("# layer code:"))
    assert code_line.endswith("upload  (script of flow 'example' changed)")
    assert "# layer runtime:" in planned and "present" in planned


def test_config_matches_what_the_dockerfile_sets(cli, tmp_path, base_in_registry, image_name):
    script = write_flow(tmp_path / "flows", image_name, base_in_registry, extra=", env_vars={'TEAM': 'data'}")
    cli("build", "-p", str(script))
    manifest, _, _ = manifest_of(REGISTRY, image_name)
    config = json.loads(Registry(REGISTRY).get_blob(image_name, manifest["config"]["digest"]))
    assert config["created"] == "1970-01-01T00:00:00Z" and config["architecture"] == "amd64"
    runtime = config["config"]
    assert runtime["Entrypoint"] == ["python3", "-m", "flowimg.runtime"] and runtime["Cmd"] is None
    assert {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PYTHONPATH=/opt/flowimg/lib", "TEAM=data"} <= set(
        runtime["Env"])
    labels = runtime["Labels"]
    assert json.loads(labels["io.flowimg.manifest"])["flows"]["example"]["path"] == "/opt/flows/flow.py"
    assert labels["org.opencontainers.image.title"] == image_name
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])


def test_same_inputs_from_two_checkouts_give_one_digest(cli, tmp_path, base_in_registry, image_name):
    digests = []
    for checkout in ("checkout-one/project", "elsewhere/checkout-two/project"):
        script = write_flow(tmp_path / checkout / "flows", image_name, base_in_registry)
        reference = cli("build", "-p", str(script)).stdout.strip()
        digests.append(reference.split("@", 1)[1])
        docker("image", "rm", "-f", reference, check=False)
        docker("image", "rm", "-f", f"{REGISTRY}/{image_name}:latest", check=False)
    assert digests[0] == digests[1]
    ran = docker("run", "--rm", "--network", "none", f"{REGISTRY}/{image_name}@{digests[0]}", "example")
    assert "[1, 2, 3, 4, 5]" in ran.stdout


def test_register_pin_records_the_digest_and_run_uses_it(cli, tmp_path, base_in_registry, image_name):
    """--pin fixes the version to the pushed digest, as it fixes Git storage to a commit."""
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    cli("register", "-p", str(script), "--project", "P", "--pin")
    shown = cli("flows", "show", "example", "--project", "P").stdout
    assert f"Docker {REGISTRY}/{image_name}@sha256:" in shown
    pinned = shown.split("@", 1)[1].split()[0]
    script.write_text(script.read_text().replace("print(data)", "print('new code', data)"))
    cli("build", "-p", str(script))  # re-pushes the tag; version 1 still runs its own digest
    ran = cli("run", "example", "--project", "P", "--version", "1")
    assert "new code" not in ran.stdout and pinned in ran.stderr


def test_without_pin_a_rebuilt_tag_runs_the_new_code_with_no_re_registration(cli, tmp_path, base_in_registry,
                                                                             image_name):
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    cli("register", "-p", str(script), "--project", "P")
    assert f"Docker {REGISTRY}/{image_name}:latest" in cli("flows", "show", "example", "--project", "P").stdout
    script.write_text(script.read_text().replace("print(data)", "print('new code', data)"))
    cli("build", "-p", str(script))
    assert "new code" in cli("run", "example", "--project", "P").stdout
    again = cli("register", "-p", str(script), "--project", "P").stdout
    assert "Skipped (metadata unchanged)" in again


def test_a_health_check_failure_leaves_the_tag_alone(cli, tmp_path, base_in_registry, image_name):
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    first = cli("build", "-p", str(script)).stdout.strip().split("@")[1]
    broken = tmp_path / "flows" / "flow.py"
    broken.write_text(broken.read_text().replace("import Docker\n", "import Docker\nimport os\nif os.path.exists('/opt/flowimg'): raise RuntimeError('boom in image')\n"))
    # Only the engine sees the image's files: the check here (image/healthcheck.py) would pass this edit.
    error = one_line_error(cli("build", "-p", str(script), ok=False, env={"FLOWIMG_HEALTHCHECK": "engine"}))
    assert "health check failed" in error and "boom in image" in error
    assert manifest_of(REGISTRY, image_name)[2] == first


def test_without_an_engine_the_check_runs_here_and_says_so(cli, tmp_path, base_in_registry, image_name):
    from ports import closed_port

    no_engine = {"DOCKER_HOST": f"tcp://127.0.0.1:{closed_port()}"}
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    built = cli("build", "-p", str(script), env=no_engine)
    assert "No Docker engine answers: checked here, with this Python, that every flow loads" in built.stderr
    assert "Checking that every flow loads in" not in built.stderr
    assert manifest_of(REGISTRY, image_name)[2] in built.stdout
    error = one_line_error(cli("build", "-p", str(script), "--no-push", "--load", env=no_engine, ok=False))
    assert "--load needs a Docker engine" in error


def test_bad_builder_and_a_base_without_registry_are_one_line_errors(cli, tmp_path, image_name, base_in_registry):
    script = write_flow(tmp_path / "flows", image_name, "flowimg/python-base:bookworm")
    error = one_line_error(cli("build", "-p", str(script), ok=False))
    assert "names no registry host" in error and "--builder docker" in error
    error = one_line_error(cli("build", "-p", str(script), "--builder", "kaniko", ok=False))
    assert "unknown builder 'kaniko'" in error
    planned = cli("plan", "-p", str(script), "--builder", "auto").stdout
    assert "# builder: docker (auto: base image flowimg/python-base:bookworm names no registry host)" in planned
    in_registry = write_flow(tmp_path / "other", image_name, base_in_registry)
    planned = cli("plan", "-p", str(in_registry), "--builder", "auto").stdout
    assert f"# builder: registry (auto: base {base_in_registry} is in a registry and no step needs RUN)" in planned
    only_local = write_flow(tmp_path / "local", image_name, f"{REGISTRY}/never-pushed-{image_name}:latest")
    planned = cli("plan", "-p", str(only_local), "--builder", "auto").stdout
    assert "# builder: docker (auto: base image " in planned and "is not in its registry" in planned


def test_load_and_oci_layout_outputs(cli, tmp_path, base_in_registry, image_name):
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    out = tmp_path / "layout"
    cli("build", "-p", str(script), "--no-push", "--load", "--output", str(out))
    ran = docker("run", "--rm", "--network", "none", f"{REGISTRY}/{image_name}:latest", "example")
    assert "Flow 'example': Success" in ran.stdout + ran.stderr
    index = json.loads((out / "index.json").read_text())
    top = index["manifests"][0]
    manifest = json.loads((out / "blobs" / "sha256" / top["digest"].split(":")[1]).read_bytes())
    for blob in manifest["layers"] + [manifest["config"]]:
        assert (out / "blobs" / "sha256" / blob["digest"].split(":")[1]).stat().st_size == blob["size"]
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


# -- authentication ----------------------------------------------------------------------------------------
def test_basic_auth_registry(cli, tmp_path, base_in_registry, basic_registry):
    script = write_flow(tmp_path / "flows", "basic-flow", base_in_registry, registry=basic_registry.host)
    env = env_without_docker_config(tmp_path)
    error = one_line_error(cli("build", "-p", str(script), env=env, ok=False))
    assert f"registry {basic_registry.host} needs a login" in error and "docker login" in error
    wrong = one_line_error(cli("build", "-p", str(script), "--registry-username", USER, "--password-stdin",
                               env=env, stdin="not-the-password\n", ok=False))
    assert "401" in wrong and "not-the-password" not in wrong
    built = cli("build", "-p", str(script), "--registry-username", USER, "--password-stdin", env=env,
                stdin=PASSWORD + "\n")
    assert PASSWORD not in built.stdout + built.stderr
    assert "uploaded base layer" in built.stderr  # another registry: copied, not mounted
    assert "ok: flow 'example' loads" in built.stderr  # the engine pulled it by digest with the same login
    again = cli("build", "-p", str(script), env=docker_config(tmp_path / "cfg", basic_registry.host))
    assert "unchanged" in again.stderr


def test_token_auth_registry(cli, tmp_path, base_in_registry, token_registry):
    registry, tokens = token_registry
    script = write_flow(tmp_path / "flows", "team/token-flow", base_in_registry, registry=registry.host,
                        extra=", ignore_healthchecks=True")
    error = one_line_error(cli("build", "-p", str(script), env=env_without_docker_config(tmp_path), ok=False))
    assert "token server" in error and "401" in error
    env = docker_config(tmp_path / "cfg", registry.host)
    built = cli("build", "-p", str(script), env=env)
    digest = built.stdout.strip().split("@")[1]
    granted = [scope.split(":") for q in tokens.requests for scope in q.get("scope", [])]
    assert any(name == "team/token-flow" and "push" in actions.split(",") for _, name, actions in granted), granted
    assert all(q.get("service") == ["flowimg-test-registry"] for q in tokens.requests), tokens.requests
    again = cli("build", "-p", str(script), env=env)
    assert "unchanged" in again.stderr and digest in again.stdout


# -- failures mid-push ---------------------------------------------------------------------------------------
def test_registry_killed_mid_push_then_retry(cli, tmp_path, base_in_registry, plain_registry, monkeypatch):
    script = write_flow(tmp_path / "flows", "dying", base_in_registry, registry=plain_registry.host,
                        extra=", ignore_healthchecks=True")
    # The registry dies as soon as the first of our blobs starts uploading: the push is half done.
    watcher = tmp_path / "kill_on_upload.py"
    watcher.write_text(
        "import os, signal, sys, time\n"
        f"log = {str(plain_registry.config.parent / 'data')!r}\n"
        "while True:\n"
        "    for root, dirs, files in os.walk(log):\n"
        "        if '_uploads' in root:\n"
        f"            os.kill({plain_registry.process.pid}, signal.SIGKILL); sys.exit(0)\n"
        "    time.sleep(0.005)\n")
    import subprocess
    import sys

    killer = subprocess.Popen([sys.executable, str(watcher)])
    try:
        error = one_line_error(cli("build", "-p", str(script), ok=False))
    finally:
        killer.kill()
        killer.wait()
    assert f"registry http://{plain_registry.host}" in error and "retry" in error
    plain_registry.start()
    client = Registry(plain_registry.host)
    assert client.manifest_digest("dying", "latest") is None  # no tag, so none points at a missing blob
    built = cli("build", "-p", str(script))
    assert "pushed" in built.stderr
    manifest, _, _ = manifest_of(plain_registry.host, "dying")
    for blob in manifest["layers"] + [manifest["config"]]:
        assert client.has_blob("dying", blob["digest"])


# -- platforms ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def multi_platform_base(base_in_registry):
    """An index of the base for amd64 and (the same files, labelled) arm64, as a multi-arch base would be."""
    client = Registry(REGISTRY)
    data, media_type, digest = client.get_manifest("flowimg/python-base", "bookworm")
    manifest = json.loads(data)
    config = json.loads(client.get_blob("flowimg/python-base", manifest["config"]["digest"]))
    config["architecture"] = "arm64"
    arm_config = json.dumps(config, sort_keys=True).encode()
    from flowimg.image.registry_client import sha256_digest

    client.upload_blob("flowimg/python-base-multi", arm_config, sha256_digest(arm_config))
    for blob in manifest["layers"] + [manifest["config"]]:
        client.mount_blob("flowimg/python-base-multi", blob["digest"], "flowimg/python-base")
    client.put_manifest("flowimg/python-base-multi", digest, data, media_type)
    arm = dict(manifest, config=dict(manifest["config"], digest=sha256_digest(arm_config), size=len(arm_config)))
    arm_data = json.dumps(arm).encode()
    arm_digest = client.put_manifest("flowimg/python-base-multi", sha256_digest(arm_data), arm_data, media_type)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
             "manifests": [
                 {"mediaType": media_type, "digest": digest, "size": len(data),
                  "platform": {"os": "linux", "architecture": "amd64"}},
                 {"mediaType": media_type, "digest": arm_digest, "size": len(arm_data),
                  "platform": {"os": "linux", "architecture": "arm64"}}]}
    client.put_manifest("flowimg/python-base-multi", "bookworm", json.dumps(index).encode(), index["mediaType"])
    return f"{REGISTRY}/flowimg/python-base-multi:bookworm"


def make_wheel(folder, name, tag):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-1.0-{tag}.whl"
    info = f"{name}-1.0.dist-info"
    files = {f"{name}.py": "def greet():\n    return 'hello from the wheelhouse'\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"}
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for n, text in files.items():
            zf.writestr(n, text)
    return folder


def test_two_platforms_make_an_index_with_each_platforms_wheels(cli, tmp_path, multi_platform_base, image_name):
    wheels = make_wheel(tmp_path / "wheels", "tinydep", "py3-none-any")
    script = write_flow(tmp_path / "flows", image_name, multi_platform_base, printed="__import__('tinydep').greet()",
                        extra=f", python_dependencies=['tinydep'], wheelhouse={str(wheels)!r}")
    reference = cli("build", "-p", str(script), "--platform", "linux/amd64,linux/arm64").stdout.strip()
    index, media_type, digest = manifest_of(REGISTRY, image_name)
    assert media_type == "application/vnd.oci.image.index.v1+json" and reference.endswith(digest)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    layers = []
    for entry in index["manifests"]:
        manifest, _, _ = manifest_of(REGISTRY, image_name, entry["digest"])
        config = json.loads(Registry(REGISTRY).get_blob(image_name, manifest["config"]["digest"]))
        assert config["architecture"] == entry["platform"]["architecture"]
        assert "PYTHONPATH=/opt/flowimg/lib:/opt/flowimg/deps" in config["config"]["Env"]
        layers.append([layer["digest"] for layer in manifest["layers"]])
    assert layers[0][-3:] == layers[1][-3:]  # pure-Python wheel, runtime and code: shared, uploaded once
    ran = docker("run", "--rm", "--network", "none", reference, "example")
    assert "hello from the wheelhouse" in ran.stdout


def test_a_missing_wheel_for_one_platform_is_one_line(cli, tmp_path, multi_platform_base, image_name):
    wheels = make_wheel(tmp_path / "wheels", "nativedep", "py3-none-manylinux2014_x86_64")
    script = write_flow(tmp_path / "flows", image_name, multi_platform_base,
                        extra=f", python_dependencies=['nativedep'], wheelhouse={str(wheels)!r}")
    error = one_line_error(cli("build", "-p", str(script), "--platform", "linux/amd64,linux/arm64", ok=False))
    assert "nativedep" in error and "linux/arm64" in error and "--builder docker" in error
    shutil.rmtree(wheels)


def test_a_warm_rebuild_imports_nothing_it_does_not_need(tmp_path, base_in_registry, image_name):
    """No typer, jinja2, docker-py (requests, urllib3), rich or pydantic, and no http.client, socket (plain HTTP
    runs on _socket), dataclasses (flowimg/record.py says why), typing, tarfile, gzip, hashlib or inspect, on the
    push path."""
    import subprocess
    import sys

    script = write_flow(tmp_path / "flows", image_name, base_in_registry, extra=", ignore_healthchecks=True")
    probe = ("import sys\nsys.argv = ['flowimg', 'build', '-p', sys.argv[1]]\nfrom flowimg.launch import main\n"
             "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "print(sorted(m for m in ('typer', 'jinja2', 'docker', 'requests', 'urllib3', 'rich', 'pydantic', 'http.client',"
             " 'socket', 'dataclasses', 'typing', 'tarfile', 'gzip', 'hashlib', 'inspect')"
             " if m in sys.modules))\n")
    original = script.read_text()
    for round_no in (1, 2):  # the second is the warm one: base and runtime from the caches
        script.write_text(original.replace("print(data)", f"print({round_no}, data)"))
        result = subprocess.run([sys.executable, "-c", probe, str(script)], capture_output=True, text=True,
                                env={**os.environ, "FLOWIMG_HOME": str(tmp_path / "home")}, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "[]", result.stdout
        assert "pushed" in result.stderr


# -- the head start (image/head_start.py) ---------------------------------------------------------------------
def uploads_in(registry, repository):
    """Upload sessions the registry holds open for a repository: its filesystem storage keeps a folder with
    a `startedat` file for each (a cancelled one leaves only its hash state behind)."""
    folder = registry.config.parent / "data" / "docker" / "registry" / "v2" / "repositories" / repository / "_uploads"
    return sorted(p.name for p in folder.iterdir() if (p / "startedat").exists()) if folder.exists() else []


def test_the_next_build_of_a_command_line_asks_the_registry_at_once(cli, tmp_path, base_in_registry, plain_registry,
                                                                    flowimg_home):
    from flowimg.home import cache_path

    script = write_flow(tmp_path / "flows", "early", base_in_registry, registry=plain_registry.host,
                        extra=", ignore_healthchecks=True")
    first = cli("build", "-p", str(script))
    [record] = os.listdir(cache_path("builds"))
    assert json.loads((flowimg_home / "cache" / "builds" / record).read_text()) == {
        "base_image": base_in_registry, "host": plain_registry.host, "insecure": [], "repository": "early",
        "tag": "latest"}
    script.write_text(script.read_text().replace("print(data)", "print('edited', data)"))
    second = cli("build", "-p", str(script))
    assert "pushed" in second.stderr and second.stdout != first.stdout
    assert second.stdout.strip().split("@")[1] == manifest_of(plain_registry.host, "early")[2]
    assert uploads_in(plain_registry, "early") == []
    again = cli("build", "-p", str(script))  # unchanged: the sessions opened at start are cancelled
    assert "unchanged" in again.stderr and uploads_in(plain_registry, "early") == []
    # Another target for the same command line: the sessions asked of the old one are cancelled.
    script.write_text(script.read_text().replace("image_name='early'", "image_name='moved'"))
    moved = cli("build", "-p", str(script))
    assert moved.stdout.strip().split("@")[1] == manifest_of(plain_registry.host, "moved")[2]
    assert uploads_in(plain_registry, "early") == [] and uploads_in(plain_registry, "moved") == []
    (flowimg_home / "cache" / "builds" / record).write_text("{damaged")
    script.write_text(script.read_text().replace("print('edited', data)", "print('edited again', data)"))
    assert "pushed" in cli("build", "-p", str(script)).stderr
    # `plan` asks at start too (what is under the tag, the base), and opens no upload session.
    plans = [cli("plan", "-p", str(script)).stdout for _ in range(2)]
    assert len(os.listdir(cache_path("builds"))) == 2
    assert plans[0] == plans[1] and "# layer code: " in plans[1] and " present" in plans[1]
    assert uploads_in(plain_registry, "moved") == []


def test_early_answers_serve_only_the_target_they_were_asked_of(tmp_path, base_in_registry, plain_registry,
                                                                flowimg_home):
    from flowimg.image import head_start
    from flowimg.image.registry_client import Credentials

    target = head_start.target_of(plain_registry.host, [], "asked", "latest", base_in_registry)
    head_start.remember(target, None)  # no command line seen: nothing is remembered
    assert not (flowimg_home / "cache" / "builds").exists()
    head_start.start("k" * 32)
    head_start.remember(target, None)
    head_start.start("k" * 32)
    assert head_start.take(dict(target, tag="other"), None) is None
    head_start.start("k" * 32)
    assert head_start.take(target, Credentials("someone", "pw")) is None  # its own credentials: asks itself
    head_start.discard()  # as the launcher does at exit: the sessions no push took are cancelled
    assert uploads_in(plain_registry, "asked") == []
    head_start.start("k" * 32)
    under_tag, sessions = head_start.take(target, None)
    assert under_tag() is None and len(sessions) == 2  # nothing under the tag yet; two sessions open
    assert len({session()[1] for session in sessions}) == 2 and len(uploads_in(plain_registry, "asked")) == 2
    head_start._unused.extend(sessions)
    head_start.discard()
    assert uploads_in(plain_registry, "asked") == []


def test_a_remembered_registry_that_no_longer_answers_does_not_hold_up_the_build(cli, tmp_path, base_in_registry,
                                                                                 image_name, flowimg_home):
    import time

    from flowimg.home import cache_path
    from flowimg.image import head_start, prestart
    from hostile_servers import SilentServer

    script = write_flow(tmp_path / "flows", image_name, base_in_registry, extra=", ignore_healthchecks=True")
    with SilentServer() as silent:  # accepts connections and never answers
        key = prestart.command_key(["build", "-p", str(script)], str(tmp_path))
        os.makedirs(cache_path("builds"), exist_ok=True)
        with open(head_start._record_path(key), "w") as fh:
            json.dump(head_start.target_of(f"127.0.0.1:{silent.port}", [], "gone", "latest", base_in_registry), fh)
        started = time.monotonic()
        built = cli("build", "-p", str(script))
        took = time.monotonic() - started
    assert "pushed" in built.stderr and manifest_of(REGISTRY, image_name)[2] in built.stdout
    assert took < 30, f"the build waited {took:.0f} s for a registry it did not push to"
