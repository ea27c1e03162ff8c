"""A deterministic build context: the same inputs give the same bytes and the same digest.

Entries are sorted, mtimes fixed, owners 0, modes normalised and gzip carries no timestamp,
so an unchanged flow never busts the engine's cache and the digest can name the context.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Tuple

from ..manifest import MANIFEST_PATH
from .spec import CODE_DIR, ImageSpec

FIXED_MTIME = 315532800  # 1980-01-01, the earliest time zip-based tools accept too
RUNTIME_DIR = "flowimg/lib"


@dataclass(frozen=True)
class BuildContext:
    data: bytes
    digest: str
    names: Tuple[str, ...]


def _walk(source: str, name: str) -> Iterator[Tuple[str, str]]:
    """(context name, local path) for a file or every file and folder under a folder."""
    if os.path.isfile(source):
        yield name, source
        return
    yield name, source
    for root, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = os.path.relpath(root, source)
        for entry in sorted(dirs) + sorted(f for f in files if not f.endswith(".pyc")):
            path = os.path.join(root, entry)
            yield os.path.normpath(os.path.join(name, rel, entry)), path


def package_sources(package_dir: str, target: str) -> Dict[str, str]:
    """The .py files of a pure-Python package, for copying it into an image without pip or network."""
    entries: Dict[str, str] = {}
    name = os.path.basename(package_dir.rstrip("/"))
    for context_name, path in _walk(package_dir, f"{target}/{name}"):
        if os.path.isdir(path) or path.endswith(".py"):
            entries[context_name] = path
    return entries


def _info(name: str, size: int, mode: int, kind: bytes = tarfile.REGTYPE, mtime: int = FIXED_MTIME) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = kind
    info.mode = mode
    return info


def build_context(spec: ImageSpec, dockerfile: str, runtime_packages: List[str]) -> BuildContext:
    """Everything the Dockerfile copies, read from disk once, tarred in sorted order."""
    blobs: Dict[str, bytes] = {"Dockerfile": dockerfile.encode(), CODE_DIR + MANIFEST_PATH: spec.manifest_text.encode()}
    local: Dict[str, str] = {}
    for package_dir in runtime_packages:
        local.update(package_sources(package_dir, RUNTIME_DIR))
    for copy in spec.copies:
        local.update(dict(_walk(copy.source, copy.context_name)))
    if spec.wheelhouse:
        local.update(dict(_walk(spec.wheelhouse, "wheelhouse")))
    for image_path, data in spec.pickles:
        blobs[CODE_DIR + image_path] = data
    names = sorted(set(blobs) | set(local))
    packed = gzip.compress(write_tar(blobs, local), compresslevel=6, mtime=0)
    return BuildContext(data=packed, digest="sha256:" + hashlib.sha256(packed).hexdigest(), names=tuple(names))


def write_tar(blobs: Dict[str, bytes], local: Dict[str, str], mtime: int = FIXED_MTIME) -> bytes:
    """An uncompressed tar of in-memory `blobs` and `local` files by name, parents included, sorted.

    Shared by the build context and the registry builder's layers, so both normalise files alike.
    """
    names = set(blobs) | set(local)
    parents = {"/".join(n.split("/")[:i]) for n in names for i in range(1, n.count("/") + 1)}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(parents | names):
            path = local.get(name)
            if name in blobs:
                tar.addfile(_info(name, len(blobs[name]), 0o644, mtime=mtime), io.BytesIO(blobs[name]))
            elif path is not None and os.path.isfile(path):
                executable = os.stat(path).st_mode & stat.S_IXUSR
                with open(path, "rb") as fh:
                    data = fh.read()
                tar.addfile(_info(name, len(data), 0o755 if executable else 0o644, mtime=mtime), io.BytesIO(data))
            else:
                tar.addfile(_info(name, 0, 0o755, tarfile.DIRTYPE, mtime=mtime))
    return raw.getvalue()
