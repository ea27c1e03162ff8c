"""The registry builder's health check without a container: after the engine passed an image, a rebuild
that changes only the code is checked here, with the image's own packages, isolated from this machine's.
Real engine and registry; the engine's event log says whether a container was made or an image pulled."""
from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import time

import pytest

from cli_helpers import FLOWIMG, one_line_error
from docker_service import REGISTRY, docker
from flowimg.errors import FlowimgError
from flowimg.image.context import Entry
from flowimg.image.healthcheck import environment_fingerprint, unpack_layer
from flowimg.image.layers import image_config, make_layer
from flowimg.image.registry_builder import PlatformImage
from flowimg.image.registry_client import Registry
from flowimg.image.spec import ImageSpec
from flowimg.manifest import MANIFEST_LABEL
from test_registry_builder import make_wheel, manifest_of, write_flow

HERE_PYTHON = "{}.{}".format(*sys.version_info[:2])  # the test base image has no PYTHON_VERSION: the builder's


# -- pure parts ------------------------------------------------------------------------------------
BASE_CONFIG = {"architecture": "amd64", "os": "linux",
               "config": {"Env": ["PATH=/usr/bin"], "WorkingDir": "/"},
               "rootfs": {"type": "layers", "diff_ids": ["sha256:basediff"]},
               "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "import"}]}


def platform_image(deps=b"requests==2", code=b"print(1)", manifest="{}", env=(), platform="linux/amd64",
                   base="sha256:base"):
    dependencies = make_layer("dependencies", {"opt/flowimg/deps/d.py": Entry(kind="blob", data=deps)}, "pip")
    runtime = make_layer("runtime", {"opt/flowimg/lib/r.py": Entry(kind="blob", data=b"runtime")}, "COPY lib")
    code_layer = make_layer("code", {"opt/flows/f.py": Entry(kind="blob", data=code)}, "COPY code/ /")
    layers = [dependencies, runtime, code_layer]
    spec = ImageSpec(base_image="localhost:5000/base:1", repository="r", tag="1", env_vars=env,
                     labels={MANIFEST_LABEL: manifest, "io.flowimg.version": "0.1.0"})
    config = json.dumps(image_config(BASE_CONFIG, spec, layers), sort_keys=True).encode()
    return PlatformImage(platform, [{"digest": base, "size": 1}], layers, config, b"{}")


def test_the_environment_fingerprint_ignores_the_code_and_manifest_and_nothing_else():
    first = environment_fingerprint(platform_image())
    code_only = platform_image(code=b"print(2)", manifest='{"flows": {"x": 1}}')
    assert code_only.layers[-1].digest != platform_image().layers[-1].digest
    assert code_only.config != platform_image().config
    assert environment_fingerprint(code_only) == first
    assert environment_fingerprint(platform_image(deps=b"requests==3")) != first
    assert environment_fingerprint(platform_image(env=(("TEAM", "data"),))) != first
    assert environment_fingerprint(platform_image(platform="linux/arm64")) != first
    assert environment_fingerprint(platform_image(base="sha256:otherbase")) != first


def layer_blob(*members):
    """A layer with the given (TarInfo, data) members, written as a hostile layer could be."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def member(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("members", [
    [(member("../outside/x.py"), b"x")],
    [(member("/outside/x.py"), b"x")],
    [(member("a/../../outside/x.py"), b"x")],
    [(member("link", tarfile.SYMTYPE, "/tmp"), b"")],
    [(member("link", tarfile.SYMTYPE, "../outside"), b"")],
    [(member("d/up", tarfile.SYMTYPE, ".."), b""), (member("d/e/z", tarfile.SYMTYPE, "../up/.."), b"")],
    [(member("hard", tarfile.LNKTYPE, "x"), b"")],
    [(member("fifo", tarfile.FIFOTYPE), b"")],
    [(member("x.py"), b"1"), (member("x.py"), b"2")],
], ids=["dotdot", "absolute", "dotdot-inside", "abs-link", "link-out", "link-chain-out", "hardlink", "fifo",
        "twice"])
def test_unpacking_refuses_what_would_leave_the_folder(tmp_path, members):
    work = tmp_path / "work"
    (work / "layer").mkdir(parents=True)
    with pytest.raises(FlowimgError, match="layer"):
        unpack_layer(layer_blob(*members), str(work / "layer"))
    assert [p.name for p in work.iterdir()] == ["layer"]


def test_unpacking_keeps_files_folders_and_links_inside(tmp_path):
    layer = make_layer("code", {"opt/flows": Entry(kind="dir", path=str(tmp_path)),
                                "opt/flows/f.py": Entry(kind="blob", data=b"print(1)\n"),
                                "opt/flows/same.py": Entry(kind="link", target="f.py")}, "COPY")
    unpack_layer(layer.blob, str(tmp_path / "out"))
    assert (tmp_path / "out/opt/flows/f.py").read_bytes() == b"print(1)\n"
    assert (tmp_path / "out/opt/flows/same.py").read_bytes() == b"print(1)\n"


def test_unpacked_layers_are_reused_and_those_unused_for_two_weeks_removed(flowimg_home):
    from flowimg.home import cache_path
    from flowimg.image.healthcheck import unpacked

    layers = cache_path("healthchecks", "layers")
    for name, age_days in (("old", 15), ("recent", 13), (".unpacking-crashed", 15)):
        os.makedirs(os.path.join(layers, name, "opt"))
        then = time.time() - age_days * 24 * 3600
        os.utime(os.path.join(layers, name), (then, then))
    layer = make_layer("runtime", {"opt/flowimg/lib/r.py": Entry(kind="blob", data=b"x = 1\n")}, "COPY lib")
    folder = unpacked(layer)
    assert folder == os.path.join(layers, layer.digest.split(":")[1])
    assert sorted(os.listdir(layers)) == sorted([os.path.basename(folder), "recent"])
    with open(os.path.join(folder, "opt/flowimg/lib/r.py")) as fh:
        assert fh.read() == "x = 1\n"
    os.utime(folder, (0, 0))
    assert unpacked(layer) == folder and os.stat(folder).st_mtime > time.time() - 60  # a use keeps it


# -- against the engine and the registry -----------------------------------------------------------
def engine_events(since: float, until: float, repository: str):
    """Containers created and images pulled for `repository` between the two times."""
    found = docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--format",
                   "{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"image\"}}").stdout
    return [line for line in found.splitlines() if repository in line
            and (line.startswith("container create") or line.startswith("image pull"))]


# The console script, run in this process so that what it imported can be seen afterwards.
IN_PROCESS_BUILD = ("import runpy, sys\nsys.argv = [sys.argv[1], 'build', '-p', sys.argv[2]]\n"
                    "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
                    "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
                    "print('docker-py:' + str('docker' in sys.modules))\n")


def timed_build(cli, script, **kwargs):
    started = time.time()
    result = cli("build", "-p", str(script), **kwargs)
    time.sleep(0.05)  # the engine stamps events with its own clock
    return result, started, time.time()


def edit(script, old, new):
    text = script.read_text()
    assert old in text
    script.write_text(text.replace(old, new))


def test_a_task_edit_is_checked_here_and_the_new_digest_runs(cli, tmp_path, base_in_registry, image_name,
                                                             no_new_containers):
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    first, started, ended = timed_build(cli, script)
    first_digest = first.stdout.strip().split("@")[1]
    assert ("Checking that every flow loads in" in first.stderr
            and "(in the engine: its base, dependencies, runtime and config have not passed" in first.stderr)
    assert engine_events(started, ended, image_name), "the first build checks in a container"
    image_python = docker("run", "--rm", "--network", "none", "--entrypoint", "python3", f"{REGISTRY}/{image_name}@{first_digest}",
                          "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])").stdout.strip()
    assert f"checked with Python {image_python}" in first.stderr  # the version the record keeps
    assert image_python.rsplit(".", 1)[0] == HERE_PYTHON
    edit(script, "print(data)", "print('edited', data)")
    started = time.time()
    second = subprocess.run([sys.executable, "-c", IN_PROCESS_BUILD, FLOWIMG, str(script)], capture_output=True, text=True,
                            timeout=300)
    time.sleep(0.05)  # the engine stamps events with its own clock
    ended = time.time()
    assert second.returncode == 0, second.stderr
    reference, imported = second.stdout.split()
    assert imported == "docker-py:False"  # not even the engine client is imported
    assert (f"Checked here with Python {HERE_PYTHON} and the image's own packages: only the code changed since "
            f"{first_digest[:19]} passed the check in the engine") in second.stderr
    assert "Checking that every flow loads in" not in second.stderr
    assert engine_events(started, ended, image_name) == []
    assert reference.split("@")[1] == manifest_of(REGISTRY, image_name)[2] != first_digest
    ran = docker("run", "--rm", "--network", "none", reference, "example")
    assert "edited [1, 2, 3, 4, 5]" in ran.stdout


def test_a_module_only_this_machine_has_fails_here_and_leaves_the_tag(cli, tmp_path, base_in_registry, image_name):
    assert importlib.util.find_spec("yaml") is not None  # importable here: only the isolation can fail it
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    first = timed_build(cli, script)[0].stdout.strip().split("@")[1]
    edit(script, "import Docker\n", "import Docker\nimport yaml\n")
    temp = tmp_path / "temp"
    temp.mkdir()
    started = time.time()
    failed = cli("build", "-p", str(script), ok=False, env={"TMPDIR": str(temp)})
    error = one_line_error(failed)
    assert failed.returncode == 1
    assert error.startswith(f"Error: health check failed here, with Python {HERE_PYTHON} and the image's own "
                            "packages (the tag was not moved): ")
    assert "/opt/flows/flow.py:4: the flow script raised ModuleNotFoundError: No module named 'yaml'" in error
    assert "FLOWIMG_HEALTHCHECK=engine" in error and str(temp) not in error
    assert manifest_of(REGISTRY, image_name)[2] == first
    assert engine_events(started, time.time() + 0.05, image_name) == []
    assert list(temp.iterdir()) == []
    # A flow whose tasks differ where flowimg runs from the image fails the structure check, as in the image.
    edit(script, "import yaml\n", "")
    edit(script, "    print_data(data)\n", "    print_data(data)\n"
         "    if '/opt/flowimg/lib/' in __import__('flowimg').__file__:\n        print_data(data)\n")
    error = one_line_error(cli("build", "-p", str(script), ok=False))
    assert "health check failed here" in error and "flow 'example' changed structure" in error
    assert manifest_of(REGISTRY, image_name)[2] == first


def test_new_dependencies_are_checked_in_the_engine_again(cli, tmp_path, base_in_registry, image_name):
    wheels = make_wheel(tmp_path / "wheels", "tinydep", "py3-none-any")
    script = write_flow(tmp_path / "flows", image_name, base_in_registry,
                        extra=f", python_dependencies=['tinydep'], wheelhouse={str(wheels)!r}")
    # tinydep is not on this machine: imported only where flowimg runs from the image's runtime layer
    edit(script, "import Docker\n", "import Docker\nimport flowimg\n"
         "if '/opt/flowimg/lib/' in flowimg.__file__:\n    import tinydep\n")
    assert "Checking that every flow loads in" in timed_build(cli, script)[0].stderr
    edit(script, "print(data)", "print('edited', data)")
    here, started, ended = timed_build(cli, script)
    assert "Checked here with Python" in here.stderr and engine_events(started, ended, image_name) == []
    make_wheel(wheels, "otherdep", "py3-none-any")
    edit(script, "python_dependencies=['tinydep']", "python_dependencies=['tinydep', 'otherdep']")
    again, started, ended = timed_build(cli, script)
    assert ("Checking that every flow loads in" in again.stderr
            and "(in the engine: its base, dependencies, runtime and config have not passed" in again.stderr)
    assert "Checked here" not in again.stderr and engine_events(started, ended, image_name)
    assert manifest_of(REGISTRY, image_name)[2] in again.stdout


def test_flowimg_healthcheck_engine_forces_the_engine_and_a_bad_value_is_one_line(cli, tmp_path, base_in_registry,
                                                                                  image_name):
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    error = one_line_error(cli("build", "-p", str(script), ok=False, env={"FLOWIMG_HEALTHCHECK": "container"}))
    assert error == ("Error: FLOWIMG_HEALTHCHECK='container' is not a health check mode; set it to auto (the "
                     "default) or engine, or unset it")
    assert Registry(REGISTRY).manifest_digest(image_name, "latest") is None
    cli("build", "-p", str(script), env={"FLOWIMG_HEALTHCHECK": "auto"})
    edit(script, "print(data)", "print('edited', data)")
    forced, started, ended = timed_build(cli, script, env={"FLOWIMG_HEALTHCHECK": "engine"})
    assert "(in the engine: FLOWIMG_HEALTHCHECK=engine)" in forced.stderr and "Checked here" not in forced.stderr
    assert engine_events(started, ended, image_name)
    assert manifest_of(REGISTRY, image_name)[2] in forced.stdout


def test_the_next_build_of_a_command_line_checks_with_an_interpreter_started_with_it(cli, tmp_path, base_in_registry,
                                                                                    image_name):
    """image/prestart.py: the answer is always a fresh check's, and nothing of the interpreter stays behind."""
    script = write_flow(tmp_path / "flows", image_name, base_in_registry)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    started_note = "(its interpreter started with the build)"
    cli("build", "-p", str(script), env=env)  # in the engine
    edit(script, "print(data)", "print('edited', data)")
    fresh = cli("build", "-p", str(script), env=env).stderr
    assert "Checked here with Python" in fresh and started_note not in fresh  # nothing remembered yet
    edit(script, "print('edited', data)", "print('edited again', data)")
    warm = cli("build", "-p", str(script), env=env)
    assert f"passed the check in the engine {started_note}" in warm.stderr
    digest = manifest_of(REGISTRY, image_name)[2]
    assert digest in warm.stdout
    assert list(temp.iterdir()) == []
    assert str(temp) not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    edit(script, "print('edited again', data)", "print('to the engine', data)")
    forced = cli("build", "-p", str(script), env={**env, "FLOWIMG_HEALTHCHECK": "engine"}).stderr
    assert "(in the engine: FLOWIMG_HEALTHCHECK=engine)" in forced and list(temp.iterdir()) == []
    digest = manifest_of(REGISTRY, image_name)[2]

    # A failure found by the started interpreter is the same one line, and the tag stays.
    edit(script, "import Docker\n", "import Docker\nimport yaml\n")
    error = one_line_error(cli("build", "-p", str(script), ok=False, env=env))
    assert error.startswith("Error: health check failed here, with Python")
    assert "the flow script raised ModuleNotFoundError: No module named 'yaml'" in error
    assert manifest_of(REGISTRY, image_name)[2] == digest and list(temp.iterdir()) == []

    # A file in WORKDIR shadowing a module the started interpreter imported: it is not used, and the fresh
    # check fails as the image would (its python puts WORKDIR first on sys.path).
    edit(script, "import yaml\n", "")
    cli("build", "-p", str(script), env=env)
    shadow = tmp_path / "flows" / "json.py"
    shadow.write_text("raise RuntimeError('a shadowed stdlib module')\n")
    edit(script, "files={", f"files={{{str(shadow)!r}: '/json.py', ")
    shadowed = cli("build", "-p", str(script), ok=False, env=env)
    assert "a shadowed stdlib module" in one_line_error(shadowed) and started_note not in shadowed.stderr
    assert list(temp.iterdir()) == []
