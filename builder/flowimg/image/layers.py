"""The layers and config the registry builder writes itself: deterministic, so their digests name them.

Same inputs give the same bytes on any machine and from any checkout path: entries sorted, mtime from
SOURCE_DATE_EPOCH (else 0), owners 0, modes normalised, gzip without a timestamp. The image is laid
out like the docker builder's: dependencies, then the runtime at /opt/flowimg/lib, then the code.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from datetime import datetime, timezone

from ..digests import sha256, sha256_hex
from ..errors import FlowimgError
from ..home import read_cached, write_cached
from ..manifest import MANIFEST_PATH
from ..record import Record
from . import tarball
from .context import Collected, Entry, add_source, package_sources, walked_stat, write_tar
from .spec import ImageSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

RUNTIME_LIB = "/opt/flowimg/lib"
DEPS_DIR = "/opt/flowimg/deps"
ENTRYPOINT = ["python3", "-m", "flowimg.runtime"]
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
# pip platform tags per OCI platform; bookworm's glibc is 2.36, manylinux2014 is glibc 2.17.
_PIP_PLATFORMS = {
    "linux/amd64": ("x86_64",),
    "linux/arm64": ("aarch64",),
    "linux/arm/v7": ("armv7l",),
    "linux/ppc64le": ("ppc64le",),
    "linux/s390x": ("s390x",),
}


class Layer(Record):
    """One gzip layer blob; `inputs` says what it was made from, for `plan`'s "why did it change".

    A layer from the cache keeps only its file's path: the bytes are read when a push uploads them."""

    __slots__ = ("role", "digest", "size", "diff_id", "created_by", "inputs", "data", "path")
    _not_shown = _not_compared = ("data",)
    role: str
    digest: str
    size: int
    diff_id: str
    created_by: str
    inputs: Tuple[str, ...]
    data: Optional[bytes]
    path: Optional[str]

    def __init__(self, role: str, digest: str, size: int, diff_id: str, created_by: str, inputs: Tuple[str, ...] = (),
                 data: Optional[bytes] = None, path: Optional[str] = None) -> None:
        self.role, self.digest, self.size, self.diff_id, self.created_by = role, digest, size, diff_id, created_by
        self.inputs, self.data, self.path = inputs, data, path

    @property
    def blob(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        with open(self.path, "rb") as fh:
            data = fh.read()
        if "sha256:" + sha256_hex(data) != self.digest:
            raise FlowimgError(f"the layer cache file {self.path} is damaged; delete it and build again")
        return data

    def descriptor(self) -> Dict[str, Any]:
        return {"mediaType": OCI_LAYER, "digest": self.digest, "size": self.size}


def source_date_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "0") or "0"
    try:
        return int(value)
    except ValueError:
        raise FlowimgError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds; unset it or fix it") from None


def make_layer(role: str, entries: Dict[str, Entry], created_by: str, inputs: Sequence[str] = ()) -> Layer:
    """`entries` are keyed by image path without the leading slash."""
    parts: List[bytes] = []
    write_tar(entries, parts.append, mtime=source_date_epoch())
    raw = b"".join(parts)
    packed = tarball.gzip(raw, tarball.LAYER_OS)
    return Layer(role=role, digest="sha256:" + sha256_hex(packed), size=len(packed),
                 diff_id="sha256:" + sha256_hex(raw), created_by=created_by, inputs=tuple(inputs),
                 data=packed)


def _cached(cache_dir: Optional[str], key: str, role: str, created_by: str, inputs: Sequence[str],
            make: Callable[[], Layer]) -> Layer:
    """A layer from the cache by the hash of its inputs, else made and stored (atomically).

    The cache holds the blob and, beside it, its digest, size and diff_id, so a hit reads neither."""
    if not cache_dir:
        return make()
    blob_path = os.path.join(cache_dir, f"{role}-{key}.tar.gz")
    meta_path = blob_path + ".json"
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
        if os.path.getsize(blob_path) == meta["size"]:
            return Layer(role, meta["digest"], meta["size"], meta["diff_id"], created_by, tuple(inputs),
                         path=blob_path)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    layer = make()
    write_cached(blob_path, layer.blob)
    write_cached(meta_path, json.dumps({"digest": layer.digest, "size": layer.size,
                                             "diff_id": layer.diff_id}).encode())
    return layer


def _stat_key(entries: Dict[str, Entry]) -> str:
    """Names, sizes and modification times: enough to find the content key computed last time.

    The stats are those the package walk took, so no file is stat'ed twice."""
    key = sha256(str(source_date_epoch()).encode())
    for name, entry in sorted(entries.items()):
        key.update(f"{name}\0{entry.kind}".encode())
        if entry.kind == "file":
            st = walked_stat(entry.path)
            key.update(f"\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{entry.executable}".encode())
    return key.hexdigest()


def _content_key(entries: Dict[str, Entry]) -> str:
    key = sha256(str(source_date_epoch()).encode())
    for name, entry in sorted(entries.items()):
        key.update(name.encode() + b"\0")
        if entry.kind == "file":
            with open(entry.path, "rb") as fh:
                key.update(sha256(fh.read()).digest())
    return key.hexdigest()


def runtime_layer(package_dirs: Sequence[str], cache_dir: Optional[str] = None) -> Layer:
    """flowimg's own sources (and cloudpickle for pickles), where the docker build copies them.

    Keyed by content; a second, stat-based key remembers the content key, so an unchanged runtime is
    neither re-read nor re-hashed (as git's index does for a worktree)."""
    out = Collected()
    for package_dir in package_dirs:
        package_sources(package_dir, RUNTIME_LIB.lstrip("/"), out)
    created_by = f"COPY flowimg/lib {RUNTIME_LIB}"
    inputs = tuple(os.path.basename(p.rstrip("/")) for p in package_dirs)
    index = os.path.join(cache_dir, f"runtime-stat-{_stat_key(out.entries)}") if cache_dir else None
    found = read_cached(index) if index else None
    key = found.decode() if found else None
    if not key:
        key = _content_key(out.entries)
        if index:
            write_cached(index, key.encode())
    return _cached(cache_dir, key, "runtime", created_by, inputs,
                   lambda: make_layer("runtime", out.entries, created_by, inputs))


def code_layer(spec: ImageSpec) -> Layer:
    """The files mapping, pickles and the manifest at their image paths: the build context's code/ folder."""
    out = Collected()
    for item in spec.copies:
        add_source(item.source, item.dest.lstrip("/"), out)
    out.entries[MANIFEST_PATH.lstrip("/")] = Entry(kind="blob", data=spec.manifest_text.encode())
    out.entries.update({path.lstrip("/"): Entry(kind="blob", data=data) for path, data in spec.pickles})
    inputs = tuple(sorted(c.dest for c in spec.copies)) + tuple(p for p, _ in spec.pickles) + (MANIFEST_PATH,)
    return make_layer("code", out.entries, "COPY code/ /", inputs=inputs)


def pip_platforms(platform: str) -> List[str]:
    if platform not in _PIP_PLATFORMS:
        raise FlowimgError(f"the registry builder has no wheel tags for platform {platform}; use one of "
                           f"{', '.join(_PIP_PLATFORMS)} or --builder docker")
    arch = _PIP_PLATFORMS[platform][0]
    return [f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)] + [f"manylinux2014_{arch}", f"linux_{arch}"]


def _wheels_fingerprint(wheelhouse: Optional[str]) -> str:
    if not wheelhouse:
        return "index"
    digest = sha256()
    for name in sorted(os.listdir(wheelhouse)):
        path = os.path.join(wheelhouse, name)
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                digest.update(name.encode() + b"\0" + sha256(fh.read()).digest())
    return digest.hexdigest()


def dependency_layer(spec: ImageSpec, platform: str, python_version: str, cache_dir: Optional[str]) -> Layer:
    """`pip install --target` for the image's platform and Python, from the wheelhouse (or the index).

    Cached by its inputs (requirements, wheel bytes, platform, Python), so a code edit never runs pip.
    Console scripts (bin/) are left out: their shebangs would name this machine's interpreter.
    """
    key = sha256("\0".join([*spec.python_dependencies, _wheels_fingerprint(spec.wheelhouse), platform,
                                    python_version, str(source_date_epoch())]).encode()).hexdigest()
    inputs = (*spec.python_dependencies, f"wheels {key[:12]}", platform, f"python {python_version}")
    created_by = f"pip install --target {DEPS_DIR} " + " ".join(spec.python_dependencies)
    # From an index the same requirement may resolve to a newer release: cache wheelhouse installs only.
    return _cached(cache_dir if spec.wheelhouse else None, key, "dependencies", created_by, inputs,
                   lambda: _pip_layer(spec, platform, python_version, created_by, inputs))


def _pip_layer(spec: ImageSpec, platform: str, python_version: str, created_by: str,
               inputs: Sequence[str]) -> Layer:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="flowimg-deps-") as target:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                   "--target", target, "--python-version", python_version, "--implementation", "cp",
                   "--only-binary=:all:"]
        for tag in pip_platforms(platform):
            command += ["--platform", tag]
        if spec.wheelhouse:
            command += ["--no-index", "--find-links", spec.wheelhouse]
        result = subprocess.run(command + list(spec.python_dependencies), capture_output=True, text=True)
        if result.returncode != 0:
            missing = _missing_wheel(result.stderr) or " ".join(spec.python_dependencies)
            raise FlowimgError(
                f"no wheel of {missing} for {platform} / Python {python_version} in "
                f"{spec.wheelhouse or 'the package index'}; add one to the wheelhouse or use --builder docker")
        entries: Dict[str, Entry] = {}
        for root, dirs, files in os.walk(target):
            rel = os.path.relpath(root, target)
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not (rel == "." and d == "bin"))
            for name in dirs + files:
                path = os.path.join(root, name)
                image_name = os.path.normpath(os.path.join(DEPS_DIR, os.path.relpath(path, target))).lstrip("/")
                entries[image_name] = (Entry(kind="dir", path=path) if os.path.isdir(path) else
                                       Entry(kind="file", path=path, executable=os.access(path, os.X_OK)))
        return make_layer("dependencies", entries, created_by, inputs)


def _missing_wheel(stderr: str) -> Optional[str]:
    """pip's 'No matching distribution found for X' names the requirement without a wheel."""
    marker = "No matching distribution found for "
    for line in stderr.splitlines():
        if marker in line:
            return line.split(marker, 1)[1].strip()
    return None


def created_time() -> str:
    return datetime.fromtimestamp(source_date_epoch(), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge_env(base: List[str], extra: Sequence[Tuple[str, str]]) -> List[str]:
    """ENV semantics: a name set again replaces its value in place; new names go last."""
    env = list(base)
    for name, value in extra:
        entry = f"{name}={value}"
        for i, existing in enumerate(env):
            if existing.split("=", 1)[0] == name:
                env[i] = entry
                break
        else:
            env.append(entry)
    return env


def image_config(base: Dict[str, Any], spec: ImageSpec, layers: Sequence[Layer]) -> Dict[str, Any]:
    """The base's config plus what the Dockerfile's ENV, ENTRYPOINT and LABEL lines set. Pure."""
    config = copy.deepcopy(base)
    runtime = dict(config.get("config") or {})
    has_deps = any(layer.role == "dependencies" for layer in layers)
    python_path = RUNTIME_LIB + (f":{DEPS_DIR}" if has_deps else "")
    runtime["Env"] = _merge_env(runtime.get("Env") or [], [
        ("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONUNBUFFERED", "1"), ("PYTHONPATH", python_path),
        *spec.env_vars])
    runtime["Entrypoint"] = list(ENTRYPOINT)
    runtime["Cmd"] = None  # a Dockerfile ENTRYPOINT resets an inherited CMD
    runtime["Labels"] = {**(runtime.get("Labels") or {}), **spec.labels}
    config["config"] = runtime
    config["created"] = created_time()
    config["rootfs"] = {"type": "layers", "diff_ids": list((base.get("rootfs") or {}).get("diff_ids") or [])
                        + [layer.diff_id for layer in layers]}
    history = list(base.get("history") or [])
    history.append({"created": config["created"], "created_by": f"ENV PYTHONPATH={python_path} ...",
                    "empty_layer": True})
    for layer in layers:
        history.append({"created": config["created"], "created_by": layer.created_by})
    history.append({"created": config["created"], "created_by": "LABEL io.flowimg.manifest=...", "empty_layer": True})
    config["history"] = history
    for volatile in ("container", "container_config", "docker_version", "id", "parent"):
        config.pop(volatile, None)
    return config
