"""Validated inputs for one image build; every check here is about the user's input, not the engine."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import FlowimgError

# The reference grammar of the distribution spec: [host[:port]/]component(/component)*
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_REPOSITORY = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
CODE_DIR = "code"  # the build context's folder laid out as the image's filesystem
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class FileCopy:
    """One `files` entry: a local file or folder and where it lands in the image."""

    source: str
    dest: str
    context_name: str


@dataclass(frozen=True)
class ImageSpec:
    base_image: str
    repository: str
    tag: str
    copies: Tuple[FileCopy, ...] = ()
    python_dependencies: Tuple[str, ...] = ()
    wheelhouse: Optional[str] = None
    env_vars: Tuple[Tuple[str, str], ...] = ()
    extra_commands: Tuple[str, ...] = ()
    user_dockerfile: Optional[str] = None
    pickles: Tuple[Tuple[str, bytes], ...] = ()  # (image path, bytes)
    manifest_text: str = "{}"
    labels: Dict[str, str] = field(default_factory=dict)
    user: Optional[str] = None  # USER of the image: flows run as it; None keeps the base image's

    @property
    def image_ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def check_repository(repository: str) -> str:
    if not _REPOSITORY.match(repository or ""):
        raise FlowimgError(
            f"invalid image name '{repository}': use lowercase letters, digits and . _ - separated by /, "
            "e.g. localhost:5000/my-flows"
        )
    return repository


def check_tag(tag: str) -> str:
    if not _TAG.match(tag or ""):
        raise FlowimgError(
            f"invalid image tag '{tag}': use up to 128 letters, digits, _ . - not starting with . or -"
        )
    return tag


def check_files(files: Optional[Mapping[str, str]]) -> Tuple[FileCopy, ...]:
    """Sources must exist and be absolute, destinations absolute and distinct."""
    copies: List[FileCopy] = []
    seen: Dict[str, str] = {}
    for index, (source, dest) in enumerate(sorted((files or {}).items())):
        if not os.path.isabs(source):
            raise FlowimgError(f"files source '{source}' is relative; give an absolute path, e.g. {os.path.abspath(source)}")
        if not os.path.exists(source):
            raise FlowimgError(f"files source {source} does not exist; fix the path in files={{...}}")
        if not isinstance(dest, str) or not dest.startswith("/"):
            raise FlowimgError(f"files destination '{dest}' for {source} is not absolute; use a path like /opt/flows/x.py")
        dest = os.path.normpath(dest)
        if dest in seen:
            raise FlowimgError(f"files maps both {seen[dest]} and {source} to {dest}; give each its own destination")
        seen[dest] = source
        copies.append(FileCopy(source=source, dest=dest, context_name=CODE_DIR + dest))
    return tuple(copies)


def image_path_for(copies: Tuple[FileCopy, ...], local_path: str) -> Optional[str]:
    """Where a local file lands in the image through `files`, if it does."""
    local_path = os.path.abspath(local_path)
    for copy in copies:
        if copy.source == local_path:
            return copy.dest
        if os.path.isdir(copy.source) and local_path.startswith(copy.source.rstrip("/") + "/"):
            return os.path.join(copy.dest, os.path.relpath(local_path, copy.source))
    return None


def covered_by_files(copies: Tuple[FileCopy, ...], image_path: str) -> Optional[str]:
    """The local file that lands at `image_path`, if `files` puts one there."""
    image_path = os.path.normpath(image_path)
    for copy in copies:
        if copy.dest == image_path and os.path.isfile(copy.source):
            return copy.source
        if os.path.isdir(copy.source) and image_path.startswith(copy.dest.rstrip("/") + "/"):
            candidate = os.path.join(copy.source, os.path.relpath(image_path, copy.dest))
            if os.path.isfile(candidate):
                return candidate
    return None


def env_pairs(env_vars: Optional[Mapping[str, Any]]) -> Tuple[Tuple[str, str], ...]:
    pairs = []
    for key, value in sorted((env_vars or {}).items()):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise FlowimgError(f"env_vars name '{key}' is not a valid variable name")
        pairs.append((key, str(value)))
    return tuple(pairs)
