"""The docker builder through BuildKit: pip's cache mount survives a dependency change; nothing is left behind."""
from __future__ import annotations

import hashlib
import http.server
import textwrap
import threading
import uuid

import pytest

from cli_helpers import one_line_error
from flowimg.loading import load_script
from docker_service import PIP_BASE_IMAGE, REGISTRY, docker
from test_docker_e2e import docker_storage, make_wheel, run_image, script_flow

pytestmark = pytest.mark.usefixtures("no_new_containers")
BUILDKIT = "Engine builder: BuildKit through /usr/bin/docker"


class LoopbackIndex:
    """A PEP 503 index on 127.0.0.1 serving wheels with a long max-age, as PyPI does, and logging each GET."""

    def __init__(self, folder) -> None:
        self.wheels = {}
        self.requests: list = []
        self.folder = folder
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.requests.append(self.path)
                project = self.path.strip("/").split("/")[-1]
                if self.path.startswith("/simple/") and project in index.wheels:
                    wheel = index.wheels[project]
                    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
                    self._send(f'<a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a>'.encode(), "text/html")
                elif self.path.startswith("/files/") and (index.folder / project).is_file():
                    self._send((index.folder / project).read_bytes(), "application/octet-stream", "max-age=31536000")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str, cache: str = "max-age=600") -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", cache)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, name: str):
        self.wheels[name] = make_wheel(self.folder, name)
        return self.wheels[name].name

    def downloads(self, wheel_name: str) -> int:
        return self.requests.count(f"/files/{wheel_name}")


@pytest.fixture
def index(tmp_path):
    folder = tmp_path / "index"
    folder.mkdir()
    served = LoopbackIndex(folder)
    yield served
    served.server.shutdown()
    served.server.server_close()


def dependency_flow(tmp_path, image_name, dependencies, index_url):
    script = tmp_path / "deps.py"
    # pip caches plain-HTTP downloads only from trusted hosts (PyPI itself is HTTPS).
    env = {"PIP_INDEX_URL": index_url, "PIP_TRUSTED_HOST": index_url.split("/")[2], "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    storage = docker_storage(image_name, path="'/opt/flows/deps.py'", files=f"{{{str(script)!r}: '/opt/flows/deps.py'}}",
                             stored_as_script="True", python_dependencies=repr(dependencies), env_vars=repr(env),
                             base_image=repr(PIP_BASE_IMAGE))
    imports = "".join(f"            import {name}\n" for name in dependencies)
    script.write_text(textwrap.dedent(f"""
        from flowimg import task, Flow
        from flowimg.storage import Docker

        @task
        def greet():
{imports}            print({dependencies[-1]}.greet())

        with Flow("deps") as flow:
            greet()
    """) + storage)
    return script


def test_a_dependency_change_takes_the_unchanged_wheel_from_pips_cache_mount(cli, tmp_path, image_name, index):
    first, second = f"bka{uuid.uuid4().hex[:8]}", f"bkb{uuid.uuid4().hex[:8]}"
    first_wheel, second_wheel = index.add(first), index.add(second)
    built = cli("build", "-p", str(dependency_flow(tmp_path, image_name, [first], index.url)), "--no-push")
    assert BUILDKIT in built.stderr.splitlines()
    assert "RUN --mount=type=cache,target=/root/.cache/pip" in built.stderr
    assert index.downloads(first_wheel) == 1 and f"Successfully installed {first}-1.0" in built.stderr

    rebuilt = cli("build", "-p", str(dependency_flow(tmp_path, image_name, [first, second], index.url)), "--no-push")
    # The pip step ran again (its line changed), yet the first wheel came from the cache mount, not the index.
    assert any("Using cached" in line and first_wheel in line for line in rebuilt.stderr.splitlines()), rebuilt.stderr
    assert index.downloads(first_wheel) == 1 and index.downloads(second_wheel) == 1
    assert f"Successfully installed {first}-1.0 {second}-1.0" in rebuilt.stderr
    ran = run_image(f"{REGISTRY}/{image_name}:latest", "deps")
    assert ran.returncode == 0 and ran.stdout.strip() == "hello from the wheelhouse", ran.stderr


def test_the_cache_mount_is_not_in_the_image_and_the_wheelhouse_is_only_mounted(cli, tmp_path, image_name):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    # With a wheelhouse the build has no network: its RUN steps see only the loopback interface.
    only_loopback = "RUN python3 -c \"import socket; print('interfaces:', [n for _, n in socket.if_nameindex()])\""
    script = script_flow(tmp_path, image_name, python_dependencies="['tinydep']", wheelhouse=repr(str(wheels)),
                         base_image=repr(PIP_BASE_IMAGE), extra_dockerfile_commands=repr([only_loopback]))
    built = cli("build", "-p", str(script), "--no-push")
    assert BUILDKIT in built.stderr.splitlines() and "Successfully installed tinydep-1.0" in built.stderr
    assert "interfaces: ['lo']" in built.stderr
    # BuildKit 0.8 leaves the two mount points as empty folders; nothing mounted reaches a layer.
    listed = docker("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh",
                    f"{REGISTRY}/{image_name}:latest", "-c",
                    "find /opt/flowimg/wheelhouse /root/.cache; python3 -c 'import tinydep; print(tinydep.greet())'")
    assert listed.stdout.splitlines() == ["/opt/flowimg/wheelhouse", "/root/.cache", "/root/.cache/pip",
                                          "hello from the wheelhouse"], listed.stderr


@pytest.mark.parametrize("broken", [False, True])
def test_a_buildkit_build_leaves_no_temp_folder_and_no_container(cli, tmp_path, image_name, broken):
    temp = tmp_path / "tmp"
    temp.mkdir()
    extra = {"extra_dockerfile_commands": "['RUN false']"} if broken else {}
    script = script_flow(tmp_path, image_name, **extra)
    result = cli("build", "-p", str(script), "--no-push", ok=not broken, env={"TMPDIR": str(temp)})
    assert BUILDKIT in result.stderr.splitlines()
    if broken:
        assert "image build failed at [2/4] RUN false: executor failed running [/bin/sh -c false]: exit code: 1" \
            in one_line_error(result)
    else:
        assert run_image(f"{REGISTRY}/{image_name}:latest", "example").stdout.strip() == "[1, 2, 3, 4, 5]"
    assert list(temp.iterdir()) == []


def test_forcing_the_legacy_builder_installs_from_the_wheelhouse_without_a_mount(cli, tmp_path, image_name):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    script = script_flow(tmp_path, image_name, python_dependencies="['tinydep']", wheelhouse=repr(str(wheels)),
                         base_image=repr(PIP_BASE_IMAGE))
    plan = cli("plan", "-p", str(script), env={"FLOWIMG_BUILDKIT": "0"}).stdout
    assert "--mount" not in plan and "COPY wheelhouse /opt/flowimg/wheelhouse" in plan and "--no-cache-dir" in plan
    built = cli("build", "-p", str(script), "--no-push", env={"FLOWIMG_BUILDKIT": "0"})
    assert "Engine builder: legacy builder (FLOWIMG_BUILDKIT=0)" in built.stderr.splitlines()
    assert "Successfully installed tinydep-1.0" in built.stderr and "Step 1/" in built.stderr
    assert "ok: flow 'example' loads from /opt/flows/my_flow.py" in built.stderr


def test_plan_shows_the_buildkit_dockerfile_and_why(cli, tmp_path, image_name):
    script = script_flow(tmp_path, image_name, python_dependencies="['tinydep']", wheelhouse=repr(str(tmp_path)))
    plan = cli("plan", "-p", str(script), "--builder", "docker").stdout
    assert "RUN --mount=type=cache,target=/root/.cache/pip --mount=type=bind,source=wheelhouse," in plan
    assert "# engine builder: BuildKit through /usr/bin/docker" in plan.splitlines()
    flow = load_script(str(script))["example"]
    flow.storage.add_flow(flow, str(script))
    assert flow.storage.plan()["engine_builder"] == "BuildKit through /usr/bin/docker"


def test_a_bad_buildkit_setting_is_one_error_naming_the_choices(cli, tmp_path, image_name):
    line = one_line_error(cli("build", "-p", str(script_flow(tmp_path, image_name)), "--no-push", ok=False,
                              env={"FLOWIMG_BUILDKIT": "maybe"}))
    assert line == "Error: FLOWIMG_BUILDKIT='maybe' is not a choice; set it to 0 (legacy builder), 1 (BuildKit) or auto"
