"""The seed's Docker examples end to end against a real engine and a real registry."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import subprocess
import textwrap
import time
import zipfile

import pytest

from cli_helpers import one_line_error, seed_flow
from docker_service import BASE_IMAGE, PIP_BASE_IMAGE, REGISTRY, docker
from ports import free_port

pytestmark = pytest.mark.usefixtures("no_new_containers")


def docker_storage(image_name: str, **extra: str) -> str:
    settings = {"registry_url": repr(REGISTRY), "image_name": repr(image_name), "base_image": repr(BASE_IMAGE), **extra}
    args = "".join(f"    {k}={v},\n" for k, v in settings.items())
    return f"flow.storage = Docker(\n{args})\n"


def script_flow(tmp_path, image_name, printed="data", name="example", **extra):
    """The seed's `Docker(path=..., files=..., stored_as_script=True)` example."""
    script = tmp_path / "flows" / "my_flow.py"
    script.parent.mkdir(exist_ok=True)
    storage = docker_storage(image_name, path="'/opt/flows/my_flow.py'",
                             files=f"{{{str(script)!r}: '/opt/flows/my_flow.py'}}", stored_as_script="True", **extra)
    script.write_text(seed_flow(name=name, printed=printed, imports="from flowimg.storage import Docker", storage=storage))
    return script


def run_image(ref: str, *args: str, user: str = None) -> subprocess.CompletedProcess:
    extra = ["--user", user] if user else []
    return docker("run", "--rm", "--network", "none", *extra, ref, *args, check=False)


def test_seed_script_example_build_push_pull_run(cli, tmp_path, image_name):
    script = script_flow(tmp_path, image_name)
    built = cli("build", "-p", str(script))
    ref = f"{REGISTRY}/{image_name}:latest"
    assert built.stdout.strip() == ref
    assert "ok: flow 'example' loads from /opt/flows/my_flow.py" in built.stderr
    docker("image", "rm", ref)
    docker("pull", ref)
    ran = run_image(ref, "example")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[1, 2, 3, 4, 5]"
    manifest = json.loads(cli("inspect", ref).stdout)
    entry = manifest["flows"]["example"]
    assert entry["path"] == "/opt/flows/my_flow.py" and entry["stored_as_script"] is True
    assert entry["script_sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()


def buildkit_cached_steps(log: str) -> dict:
    """BuildKit's plain progress: each step (`#N [stage i/n] INSTRUCTION`) and whether a `#N CACHED` line followed."""
    lines = log.splitlines()
    steps = {line.split(" ", 1)[0]: line.split("] ", 1)[1] for line in lines if re.match(r"#\d+ \[([\w.-]+ )?\d+/\d+\] ", line)}
    return {instruction: f"{vertex} CACHED" in lines for vertex, instruction in steps.items()}


@pytest.mark.parametrize("buildkit", ["auto", "0"])
def test_task_edit_rebuilds_only_the_code_layer_and_runs_new_code(cli, tmp_path, image_name, buildkit):
    script = script_flow(tmp_path, image_name)
    env = {"FLOWIMG_BUILDKIT": buildkit}
    cli("build", "-p", str(script), "--no-push", env=env)
    script.write_text(script.read_text().replace("print(data)", "print('sum', sum(data))"))
    rebuilt = cli("build", "-p", str(script), "--no-push", env=env)
    if buildkit == "0":
        assert "Engine builder: legacy builder (FLOWIMG_BUILDKIT=0)" in rebuilt.stderr.splitlines()
        assert rebuilt.stderr.count("Using cache") >= 3
    else:
        assert "Engine builder: BuildKit through /usr/bin/docker" in rebuilt.stderr.splitlines()
        steps = buildkit_cached_steps(rebuilt.stderr)
        assert {k: v for k, v in steps.items() if k.startswith("COPY")} == {
            "COPY flowimg/lib /opt/flowimg/lib": True, "COPY code/ /": False}
    assert run_image(f"{REGISTRY}/{image_name}:latest", "example").stdout.strip() == "sum 15"


def test_runs_under_an_arbitrary_uid(cli, tmp_path, image_name):
    cli("build", "-p", str(script_flow(tmp_path, image_name)), "--no-push")
    ran = run_image(f"{REGISTRY}/{image_name}:latest", "example", user="12345")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[1, 2, 3, 4, 5]"


def test_image_that_already_has_the_script(cli, tmp_path, image_name):
    """The seed's second form: Docker(path=..., stored_as_script=True) on a base image holding the file."""
    cli("build", "-p", str(script_flow(tmp_path, image_name)), "--no-push")
    other = tmp_path / "other"
    other.mkdir()
    script = other / "my_flow.py"
    child = image_name + "-child"
    storage = docker_storage(child, path="'/opt/flows/my_flow.py'", stored_as_script="True",
                             base_image=repr(f"{REGISTRY}/{image_name}:latest"))
    script.write_text(seed_flow(printed="'local copy'", imports="from flowimg.storage import Docker", storage=storage))
    cli("build", "-p", str(script), "--no-push")
    docker("image", "rm", "-f", f"{REGISTRY}/{child}:latest", check=False)
    assert "ok: flow" in cli("build", "-p", str(script), "--no-push").stderr
    # The image's own file runs, not the local copy: that is what "already has your flow files" means.
    assert run_image(f"{REGISTRY}/{child}:latest", "example").stdout.strip() == "[1, 2, 3, 4, 5]"
    docker("image", "rm", "-f", f"{REGISTRY}/{child}:latest", check=False)


def test_pickle_mode(cli, tmp_path, image_name):
    script = tmp_path / "pickled.py"
    script.write_text(seed_flow(printed="'pickled', data", imports="from flowimg.storage import Docker",
                                storage=docker_storage(image_name)))
    cli("build", "-p", str(script))
    manifest = json.loads(cli("inspect", f"{REGISTRY}/{image_name}:latest").stdout)
    assert manifest["flows"]["example"]["stored_as_script"] is False
    assert manifest["flows"]["example"]["path"].endswith(".flowpickle")
    assert run_image(f"{REGISTRY}/{image_name}:latest", "example").stdout.strip() == "pickled [1, 2, 3, 4, 5]"


def test_several_flows_share_one_image_each_with_its_own_script(cli, tmp_path, image_name):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "common.py").write_text(textwrap.dedent(f"""
        import os
        from flowimg.storage import Docker
        HERE = os.path.dirname(os.path.abspath(__file__))
        storage = Docker(files={{HERE: "/opt/flows"}}, stored_as_script=True, registry_url={REGISTRY!r},
                         image_name={image_name!r}, base_image={BASE_IMAGE!r})
    """))
    for name in ("first", "second"):
        (flows / f"{name}.py").write_text(seed_flow(name=name, printed=f"'{name}', data", imports="from common import storage",
                                                    storage="flow.storage = storage\n"))
    cli("build", "-p", str(flows), "--no-push")
    ref = f"{REGISTRY}/{image_name}:latest"
    assert run_image(ref, "first").stdout.strip() == "first [1, 2, 3, 4, 5]"
    assert run_image(ref, "second").stdout.strip() == "second [1, 2, 3, 4, 5]"
    assert run_image(ref, "--list").stdout.split() == ["first", "second"]
    names = run_image(ref, "third")
    assert names.returncode == 1 and "it holds: first, second" in names.stderr


def make_wheel(folder, name="tinydep", version="1.0"):
    """A real wheel made by hand, so the test needs no index and no network."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}.py": "def greet():\n    return 'hello from the wheelhouse'\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def test_python_dependencies_from_a_local_wheelhouse(cli, tmp_path, image_name):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    script = tmp_path / "dep_flow.py"
    storage = docker_storage(image_name, path="'/opt/flows/dep_flow.py'", files=f"{{{str(script)!r}: '/opt/flows/dep_flow.py'}}",
                             stored_as_script="True", python_dependencies="['tinydep']", wheelhouse=repr(str(wheels)),
                             base_image=repr(PIP_BASE_IMAGE))
    script.write_text(textwrap.dedent("""
        from flowimg import task, Flow
        from flowimg.storage import Docker

        @task
        def greet():
            import tinydep
            print(tinydep.greet())

        with Flow("deps") as flow:
            greet()
    """) + storage)
    built = cli("build", "-p", str(script), "--no-push")
    assert "Successfully installed tinydep-1.0" in built.stderr
    assert run_image(f"{REGISTRY}/{image_name}:latest", "deps").stdout.strip() == "hello from the wheelhouse"


def test_failing_health_check_names_flow_file_and_error_and_removes_the_image(cli, tmp_path, image_name):
    script = script_flow(tmp_path, image_name)
    script.write_text(script.read_text().replace(
        "from flowimg import task, Flow",
        "from flowimg import task, Flow\nimport os\nif os.path.exists('/opt/flowimg'):\n    raise RuntimeError('settings missing in the image')"))
    line = one_line_error(cli("build", "-p", str(script), ok=False))
    assert "health check failed" in line and "flow 'example'" in line
    assert "/opt/flows/my_flow.py:5: the flow script raised RuntimeError: settings missing in the image" in line
    assert docker("image", "inspect", f"{REGISTRY}/{image_name}:latest", check=False).returncode != 0


def test_path_neither_in_files_nor_in_the_base_image(cli, tmp_path, image_name):
    script = tmp_path / "f.py"
    script.write_text(seed_flow(imports="from flowimg.storage import Docker",
                                storage=docker_storage(image_name, path="'/opt/flows/missing.py'", stored_as_script="True")))
    line = one_line_error(cli("build", "-p", str(script), "--no-push", ok=False))
    assert "script /opt/flows/missing.py is not in the image" in line
    assert docker("image", "inspect", f"{REGISTRY}/{image_name}:latest", check=False).returncode != 0


def test_push_to_a_registry_that_is_down(cli, tmp_path, image_name):
    port = free_port()
    script = script_flow(tmp_path, image_name, registry_url=repr(f"localhost:{port}"))
    line = one_line_error(cli("build", "-p", str(script), ok=False))
    assert f"push of localhost:{port}/{image_name}:latest failed" in line
    docker("image", "rm", "-f", f"localhost:{port}/{image_name}:latest", check=False)


@pytest.fixture
def readonly_registry(tmp_path):
    """A real registry in read-only maintenance mode: it refuses every push."""
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(textwrap.dedent(f"""
        version: 0.1
        storage:
          filesystem:
            rootdirectory: {tmp_path / 'registry-data'}
          maintenance:
            readonly:
              enabled: true
        http:
          addr: 127.0.0.1:{port}
    """))
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"localhost:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def test_registry_that_refuses_the_push(cli, tmp_path, image_name, readonly_registry):
    script = script_flow(tmp_path, image_name, registry_url=repr(readonly_registry))
    line = one_line_error(cli("build", "-p", str(script), ok=False))
    assert f"push of {readonly_registry}/{image_name}:latest failed" in line
    assert "405" in line and "Method not allowed" in line, line
    docker("image", "rm", "-f", f"{readonly_registry}/{image_name}:latest", check=False)


def test_explicit_login_reads_the_password_from_stdin_and_never_prints_it(cli, tmp_path, image_name):
    script = script_flow(tmp_path, image_name)
    result = cli("build", "-p", str(script), "--registry-username", "ci", "--password-stdin", ok=False,
                 stdin="s3cr3t-pw\n")
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stderr  # the open test registry accepts any login


@pytest.mark.parametrize("args, bad_name, message", [
    (["--tag", "-bad"], None, "invalid image tag '-bad'"),
    ([], "Bad Name", "invalid image name 'localhost:5000/Bad Name'"),
    (["-n", "nope"], None, "no flow named 'nope'"),
])
def test_bad_build_inputs(cli, tmp_path, image_name, args, bad_name, message):
    script = script_flow(tmp_path, bad_name or image_name)
    line = one_line_error(cli("build", "-p", str(script), "--no-push", *args, ok=False))
    assert message in line


def test_syntax_error_in_the_flow_file(cli, tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("with Flow('x') as flow\n")
    line = one_line_error(cli("build", "-p", str(script), ok=False))
    assert f"{script}:1: SyntaxError" in line


def test_no_engine_reachable(cli, tmp_path, image_name):
    script = script_flow(tmp_path, image_name)
    line = one_line_error(cli("build", "-p", str(script), ok=False, env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}))
    assert "no Docker engine answers" in line and "none.sock" in line


def test_register_and_run_docker_storage_across_rebuilds(cli, tmp_path, image_name):
    """Register once; a rebuild under the same tag is what runs next; a structure change is refused."""
    script = script_flow(tmp_path, image_name)
    registered = cli("register", "-p", str(script), "--project", "Docker")
    assert "Building `Docker` storage..." in registered.stdout and "Version: 1" in registered.stdout
    assert cli("run", "example", "--project", "Docker").stdout.strip() == "[1, 2, 3, 4, 5]"
    script.write_text(script.read_text().replace("print(data)", "print('rebuilt', len(data))"))
    cli("build", "-p", str(script))
    assert cli("run", "example", "--project", "Docker").stdout.strip() == "rebuilt 5"
    assert "Skipped (metadata unchanged)" in cli("register", "-p", str(script), "--project", "Docker").stdout
    script.write_text(script.read_text().replace("    print_data(data)", "    print_data(get_data())"))
    cli("build", "-p", str(script))
    refused = cli("run", "example", "--project", "Docker", ok=False)
    assert refused.returncode == 1
    assert "changed structure since it was registered (task added: 'get_data-2'; edge added: get_data-2 -> print_data-1; " \
           "edge removed: get_data-1 -> print_data-1)" in refused.stderr
