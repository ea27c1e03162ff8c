"""The build's health check without a container, for an image whose environment already passed it.

A rebuild after a task edit changes only the code layer and the manifest. When the engine has checked
an image with the same environment (platform, base layers, dependencies, runtime, config), the check runs
here instead: the image's own runtime and packages, unpacked from their layers, under an interpreter of
the image's Python X.Y, isolated from this machine's site-packages. What cannot be reproduced here (a
script from the base image, another platform or Python) is checked in the engine.
"""
from __future__ import annotations

import io
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import time

from ..digests import sha256_hex
from ..errors import FlowimgError
from ..home import cache_path, read_cached, write_cached
from ..manifest import MANIFEST_LABEL, MANIFEST_PATH, dumps, loads
from ..record import Record
from . import prestart
from .prestart import MODE_ENV
from .layers import DEPS_DIR, RUNTIME_LIB, Layer
from .spec import covered_by_files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple
    from ..log import Log
    from .registry_builder import PlatformImage
    from .spec import ImageSpec

MODES = ("auto", "engine")
CHECK_TIMEOUT = 600.0  # seconds, for loading every flow once
UNUSED_FOR = 14 * 24 * 3600.0  # seconds an unpacked layer stays in the cache unused
# What the image runs (`python3 -m flowimg.runtime --check`), with sys.path as the image has it.
_BOOT = ("import os, sys\n"
         "sys.path[:] = sys.argv[1:] + [p for p in sys.path if p]\n"
         "del sys.argv[1:]\n"
         "from flowimg.runtime import main\n" + prestart.RUN_CHECK)


def healthcheck_mode() -> str:
    """FLOWIMG_HEALTHCHECK: `auto` (default) checks here when only the code changed, `engine` never does."""
    value = os.environ.get(MODE_ENV) or "auto"
    if value not in MODES:
        raise FlowimgError(f"{MODE_ENV}={value!r} is not a health check mode; set it to auto (the default) or "
                           "engine, or unset it")
    return value


def _drop_layer(config: Dict[str, Any], at: int) -> Dict[str, Any]:
    """The config without the diff_id and history entry of its layer number `at`."""
    rootfs = dict(config.get("rootfs") or {})
    diff_ids = list(rootfs.get("diff_ids") or [])
    rootfs["diff_ids"] = diff_ids[:at] + diff_ids[at + 1:]
    history, seen = [], -1
    for entry in config.get("history") or []:
        if not entry.get("empty_layer"):
            seen += 1
            if seen == at:
                continue
        history.append(entry)
    return dict(config, rootfs=rootfs, history=history)


def environment_fingerprint(image: PlatformImage) -> str:
    """A hash of everything in the image but the code layer and the manifest label: what, besides the
    code, decides whether the flows load. Pure."""
    config = json.loads(image.config)
    runtime = dict(config.get("config") or {})
    runtime["Labels"] = {k: v for k, v in (runtime.get("Labels") or {}).items() if k != MANIFEST_LABEL}
    config["config"] = runtime
    first_own = len((config.get("rootfs") or {}).get("diff_ids") or []) - len(image.layers)
    for at in sorted((first_own + i for i, layer in enumerate(image.layers) if layer.role == "code"), reverse=True):
        config = _drop_layer(config, at)
    environment = {
        "platform": image.platform,
        "layers": [layer["digest"] for layer in image.base_layers]
        + [layer.digest for layer in image.layers if layer.role != "code"],
        "config": config,
    }
    text = json.dumps(environment, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + sha256_hex(text)


class Passed(Record):
    """An environment the engine checked: the image's Python X.Y and the digest that passed."""

    __slots__ = ("python", "digest")
    python: str
    digest: str

    def __init__(self, python: str, digest: str) -> None:
        self.python, self.digest = python, digest


def _record_path(fingerprint: str) -> str:
    return cache_path("healthchecks", fingerprint.replace(":", "-") + ".json")


def record_passed(image: PlatformImage, python: str) -> None:
    passed = {"python": python, "digest": image.digest}
    write_cached(_record_path(environment_fingerprint(image)), json.dumps(passed, sort_keys=True).encode())


def passed_before(fingerprint: str) -> Optional[Passed]:
    data = read_cached(_record_path(fingerprint))
    try:
        found = json.loads(data) if data else None
        return Passed(str(found["python"]), str(found["digest"])) if found else None
    except (ValueError, KeyError, TypeError):
        return None  # a damaged record only costs one check in the engine


def find_python(version: str) -> Optional[str]:
    """An interpreter of Python `version` (X.Y): this one, else python{X.Y} on PATH if it runs."""
    if sys.executable and "{}.{}".format(*sys.version_info[:2]) == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if found is None:
        return None
    try:
        probe = subprocess.run([found, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if probe.returncode == 0 and probe.stdout.strip() == version else None


# -- unpacking the image's own layers ----------------------------------------------------------------------------
def _inside(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def unpack_layer(blob: bytes, folder: str) -> None:
    """A layer's files under `folder`, trusting nothing in it: no absolute names, no `..`, no links
    (or paths through links) leading out of `folder`, only files, folders and symlinks.

    Only a layer not unpacked before needs tarfile, so a warm build does not import it."""
    import tarfile
    import zlib

    try:
        _unpack(blob, os.path.realpath(folder))
    except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
        raise FlowimgError(f"cannot unpack the layer ({exc})") from None


def _unpack(blob: bytes, root: str) -> None:
    import gzip
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        for member in tar:
            name = posixpath.normpath(member.name)
            if member.name.startswith("/") or name == ".." or name.startswith("../"):
                raise FlowimgError(f"layer entry {member.name!r} points outside the layer")
            dest = os.path.join(root, *name.split("/"))
            if not _inside(os.path.dirname(dest), root) or os.path.islink(dest):
                raise FlowimgError(f"layer entry {member.name!r} goes through a link out of the layer")
            if member.isdir():
                os.makedirs(dest, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if member.issym():
                if posixpath.isabs(member.linkname):
                    raise FlowimgError(f"layer entry {member.name!r} links to the absolute path {member.linkname}")
                os.symlink(member.linkname, dest)
                if not _inside(dest, root):
                    os.unlink(dest)
                    raise FlowimgError(f"layer entry {member.name!r} links out of the layer ({member.linkname})")
            elif member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                mode = 0o755 if member.mode & 0o111 else 0o644
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
                with os.fdopen(fd, "wb") as fh:
                    shutil.copyfileobj(source, fh)
            else:
                raise FlowimgError(f"layer entry {member.name!r} is neither a file, a folder nor a symlink")


def unpacked(layer: Layer) -> str:
    """The layer's files in the cache, unpacked once per digest (whole or not at all); unpacking one
    removes those no build used for UNUSED_FOR, as dependencies can take hundreds of MB each."""
    folder = cache_path("healthchecks", "layers", layer.digest.split(":", 1)[1])
    if os.path.isdir(folder):
        try:
            os.utime(folder)
        except OSError:
            pass  # a read-only cache is only never pruned
        return folder
    _prune(os.path.dirname(folder), time.time() - UNUSED_FOR)
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    partial = tempfile.mkdtemp(prefix=".unpacking-", dir=os.path.dirname(folder))
    try:
        unpack_layer(layer.blob, partial)
        os.rename(partial, folder)
    except FlowimgError as exc:
        raise FlowimgError(f"the {layer.role} layer {layer.digest[:19]} cannot be checked here: {exc}; delete "
                           f"{cache_path()} and build again") from None
    except OSError:
        if not os.path.isdir(folder):  # else another build unpacked it first
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def _prune(folder: str, before: float) -> None:
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            if os.stat(path).st_mtime < before:
                shutil.rmtree(path)
        except OSError:
            pass  # in use by another build, or already gone


# -- planning and running --------------------------------------------------------------------------------------
class FastCheck(Record):
    __slots__ = ("python", "interpreter", "passed", "python_path")
    python: str
    interpreter: str
    passed: str  # the digest whose check in the engine vouches for this environment
    python_path: Tuple[str, ...]  # the runtime's and dependencies' folders, in PYTHONPATH order

    def __init__(self, python: str, interpreter: str, passed: str, python_path: Tuple[str, ...]) -> None:
        self.python, self.interpreter, self.passed, self.python_path = python, interpreter, passed, python_path


def plan_fast_check(spec: ImageSpec, image: PlatformImage, host_platform: str) -> Tuple[Optional[FastCheck], str]:
    """How to check `image` here without a container, or (None, why the engine must)."""
    if healthcheck_mode() == "engine":
        return None, f"{MODE_ENV}=engine"
    passed = passed_before(environment_fingerprint(image))
    if passed is None:
        return None, "its base, dependencies, runtime and config have not passed the check in the engine yet"
    if image.platform != host_platform or not sys.platform.startswith("linux"):
        return None, f"the image is {image.platform} and this machine {host_platform} ({sys.platform})"
    for name, entry in sorted(loads(spec.manifest_text, spec.image_ref)["flows"].items()):
        if entry["stored_as_script"] and covered_by_files(spec.copies, entry["path"]) is None:
            return None, f"flow '{name}' is a script from the base image ({entry['path']})"
    interpreter = find_python(passed.python)
    if interpreter is None:
        return None, f"no python{passed.python} on this machine to check with"
    try:
        folders = {layer.role: unpacked(layer) for layer in image.layers if layer.role in ("runtime", "dependencies")}
    except OSError as exc:
        return None, f"cannot unpack the image's packages into the flowimg cache ({exc})"
    python_path = [os.path.join(folders["runtime"], *RUNTIME_LIB.strip("/").split("/"))]
    if "dependencies" in folders:
        python_path.append(os.path.join(folders["dependencies"], *DEPS_DIR.strip("/").split("/")))
    return FastCheck(passed.python, interpreter, passed.digest, tuple(python_path)), ""


def rooted_manifest(manifest: Dict[str, Any], root: str) -> Dict[str, Any]:
    """The manifest with each flow's absolute image path under `root`, where the code layer is unpacked."""
    def under(path: str) -> str:
        return os.path.join(root, path.lstrip("/")) if path.startswith("/") else path

    flows = {}
    for name, entry in manifest["flows"].items():
        storage = dict(entry["storage"], flows={n: under(p) for n, p in entry["storage"]["flows"].items()})
        flows[name] = dict(entry, path=under(entry["path"]), storage=storage)
    return dict(manifest, flows=flows)


def _image_env(config: Dict[str, Any]) -> Dict[str, str]:
    env = {}
    for item in (config.get("config") or {}).get("Env") or []:
        name, _, value = item.partition("=")
        env[name] = value
    return env


def run_fast_check(check: FastCheck, spec: ImageSpec, image: PlatformImage, log: Log) -> None:
    """The image's own `--check`, run here by `check.interpreter` on the code layer unpacked in a temporary
    folder: the flows' scripts and pickles at their image paths, the image's env, WORKDIR and sys.path.
    The interpreter may have been started with the build (image/prestart.py); it then only loads the flows."""
    code = next(layer for layer in image.layers if layer.role == "code")
    config = json.loads(image.config)
    settings = prestart.settings_for(check.interpreter, check.python_path, _image_env(config),
                                     (config.get("config") or {}).get("WorkingDir") or "/")
    started = prestart.take(settings)
    root = os.path.realpath(tempfile.mkdtemp(prefix="flowimg-check-"))
    try:
        try:
            unpack_layer(code.blob, root)
        except FlowimgError as exc:
            raise FlowimgError(f"health check failed here (the tag was not moved): the code layer: {exc}; check "
                               "the files mapping") from None
        manifest_path = os.path.join(root, *MANIFEST_PATH.strip("/").split("/"))
        with open(manifest_path, "w", encoding="utf-8") as fh:
            fh.write(dumps(rooted_manifest(loads(spec.manifest_text, spec.image_ref), root)))
        workdir = os.path.join(root, settings["workdir"].lstrip("/"))
        if not os.path.lexists(workdir):  # the image's WORKDIR, empty here but first on sys.path all the same
            os.makedirs(workdir)
        cwd = workdir if os.path.isdir(workdir) else root
        try:
            answer = started.run(cwd, manifest_path, CHECK_TIMEOUT) if started is not None else None
            if answer is None:
                env = dict(settings["env"], FLOWIMG_MANIFEST=manifest_path)
                result = subprocess.run([check.interpreter, "-I", "-S", "-c", _BOOT, cwd, *check.python_path],
                                        cwd=cwd, env=env, capture_output=True, text=True, timeout=CHECK_TIMEOUT)
                answer = result.returncode, result.stdout, result.stderr
        except subprocess.TimeoutExpired:
            raise FlowimgError(f"health check failed here (the tag was not moved): loading the flows took over "
                               f"{CHECK_TIMEOUT:.0f} s; make the scripts load faster") from None
        returncode, stdout, stderr = answer
        output = (stdout + "\n" + stderr).replace(root + "/", "/").replace(root, "/")
    finally:
        if started is not None:
            started.close()
        shutil.rmtree(root, ignore_errors=True)
    if returncode != 0:
        problems = [line for line in output.splitlines() if line.strip()][-6:]
        hint = ""
        if "ModuleNotFoundError" in output:
            hint = (" | add the module to python_dependencies, or, if the base image provides it, set "
                    f"{MODE_ENV}=engine")
        raise FlowimgError(f"health check failed here, with Python {check.python} and the image's own packages "
                           f"(the tag was not moved): {' | '.join(problems)}{hint}")
    prestart.remember(settings)
    log(f"Checked here with Python {check.python} and the image's own packages: only the code changed since "
        f"{check.passed[:19]} passed the check in the engine" + (" (its interpreter started with the build)"
                                                                  if started is not None else ""))

