"""The runtime an image holds: flowimg without its host-only parts, every module importable on its own,
on the oldest Python images run (3.8) and this one, with nothing but the layer on sys.path."""
import os
import subprocess
import sys

import pytest

import flowimg
from flowimg.image.context import HOST_ONLY
from flowimg.image.healthcheck import unpack_layer
from flowimg.image.layers import RUNTIME_LIB, runtime_layer

PACKAGE = os.path.dirname(flowimg.__file__)
PYTHON38 = "/root/.pyenv/versions/3.8.18/bin/python"


@pytest.fixture(scope="module")
def runtime_lib(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtime")
    unpack_layer(runtime_layer([PACKAGE]).blob, str(folder))
    return folder / RUNTIME_LIB.strip("/")


def modules_in(lib):
    found = []
    for folder, _, files in os.walk(lib):
        for name in files:
            if name.endswith(".py"):
                parts = os.path.relpath(os.path.join(folder, name), lib)[:-3].split(os.sep)
                found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(found)


def test_the_host_only_parts_are_left_out_and_named_as_they_are(runtime_lib):
    for name in HOST_ONLY:
        assert os.path.exists(os.path.join(PACKAGE, name)), f"HOST_ONLY names {name}, which flowimg no longer has"
        assert not (runtime_lib / "flowimg" / name).exists()
    modules = modules_in(runtime_lib)
    assert "flowimg.runtime" in modules and "flowimg.storage.docker" in modules and "flowimg.cli" not in modules
    assert not [m for m in modules if m.startswith(("flowimg.backend", "flowimg.image.registry"))]


@pytest.mark.parametrize("python", [sys.executable, PYTHON38], ids=["this-python", "python3.8"])
def test_every_module_the_image_holds_imports_without_the_host_only_parts(runtime_lib, python):
    if python == PYTHON38 and not os.path.exists(PYTHON38):
        pytest.fail(f"{PYTHON38} is missing: the runtime must be checked on the oldest Python images run")
    probe = ("import importlib, sys\nsys.path[:0] = [sys.argv[1]]\nfailed = []\n"
             "for name in sys.argv[2:]:\n"
             "    try:\n        importlib.import_module(name)\n"
             "    except Exception as exc:\n        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
             "print('\\n'.join(failed))\n")
    result = subprocess.run([python, "-I", "-S", "-c", probe, str(runtime_lib), *modules_in(runtime_lib)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
