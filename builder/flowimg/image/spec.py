"""Validated inputs for one image build; every check here is about the user's input, not the engine."""
from __future__ import annotations

import os
import posixpath
import re

from ..errors import FlowimgError
from ..record import Record
from .reference import TAG, parse_reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple

CODE_DIR = "code"  # the build context's folder laid out as the image's filesystem
RESERVED_DIR = "/opt/flowimg"  # the manifest, the runtime, pickles: flowimg's own
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class FileCopy(Record):
    """One `files` entry: a local file or folder and where it lands in the image."""

    __slots__ = ("source", "dest", "context_name")
    source: str
    dest: str
    context_name: str

    def __init__(self, source: str, dest: str, context_name: str) -> None:
        self.source, self.dest, self.context_name = source, dest, context_name


class ImageSpec(Record):
    __slots__ = ("base_image", "repository", "tag", "copies", "python_dependencies", "wheelhouse", "env_vars",
                 "extra_commands", "user_dockerfile", "pickles", "manifest_text", "labels", "user")
    base_image: str
    repository: str
    tag: str
    copies: Tuple[FileCopy, ...]
    python_dependencies: Tuple[str, ...]
    wheelhouse: Optional[str]
    env_vars: Tuple[Tuple[str, str], ...]
    extra_commands: Tuple[str, ...]
    user_dockerfile: Optional[str]
    pickles: Tuple[Tuple[str, bytes], ...]  # (image path, bytes)
    manifest_text: str
    labels: Dict[str, str]
    user: Optional[str]  # USER of the image: flows run as it; None keeps the base image's

    def __init__(self, base_image: str, repository: str, tag: str, copies: Tuple[FileCopy, ...] = (),
                 python_dependencies: Tuple[str, ...] = (), wheelhouse: Optional[str] = None,
                 env_vars: Tuple[Tuple[str, str], ...] = (), extra_commands: Tuple[str, ...] = (),
                 user_dockerfile: Optional[str] = None, pickles: Tuple[Tuple[str, bytes], ...] = (),
                 manifest_text: str = "{}", labels: Optional[Dict[str, str]] = None,
                 user: Optional[str] = None) -> None:
        self.base_image, self.repository, self.tag, self.copies = base_image, repository, tag, copies
        self.python_dependencies, self.wheelhouse, self.env_vars = python_dependencies, wheelhouse, env_vars
        self.extra_commands, self.user_dockerfile, self.pickles = extra_commands, user_dockerfile, pickles
        self.manifest_text, self.labels, self.user = manifest_text, {} if labels is None else labels, user

    @property
    def image_ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def check_repository(repository: str) -> str:
    found = parse_reference(repository, "image name")
    if found.tag or found.digest:
        raise FlowimgError(f"invalid image name '{repository}': give the tag as image_tag, not in image_name")
    return repository


def check_base_image(reference: str) -> str:
    parse_reference(reference, "base_image")
    return reference


def check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not TAG.fullmatch(tag):
        raise FlowimgError(
            f"invalid image tag {tag!r}: use up to 128 letters, digits, _ . - not starting with . or -"
        )
    return tag


def image_path(dest: str, workdir: str) -> str:
    """An image path as Docker resolves a COPY destination: relative ones against the WORKDIR."""
    return posixpath.normpath(posixpath.join(workdir or "/", dest))


def check_destination(dest: Any, source: str) -> str:
    """A destination is one line of text, before anything resolves it."""
    if not isinstance(dest, str) or not dest.strip() or any(ch in dest for ch in "\n\r\0"):
        raise FlowimgError(f"files destination {dest!r} for {source} is not a path; use a path like /opt/flows/x.py")
    return dest


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_files(files: Optional[Mapping[str, str]], workdir: str = "/") -> Tuple[FileCopy, ...]:
    """Sources must exist and be absolute; destinations (relative ones against `workdir`) distinct,
    outside flowimg's own folder, and never hiding what another mapping puts there."""
    copies: List[FileCopy] = []
    for source, dest in sorted((files or {}).items()):
        if not os.path.isabs(source):
            raise FlowimgError(f"files source '{source}' is relative; give an absolute path, e.g. {os.path.abspath(source)}")
        if not os.path.exists(source):
            raise FlowimgError(f"files source {source} does not exist; fix the path in files={{...}}")
        check_destination(dest, source)
        is_file = not os.path.isdir(source)
        if is_file and image_path(dest, workdir) == "/":
            raise FlowimgError(f"files maps the file {source} onto /; give it a file path like /opt/flows/x.py")
        if is_file and dest.endswith("/"):
            dest += os.path.basename(source)  # like COPY file dir/
        target = image_path(dest, workdir)
        if _is_within(target, RESERVED_DIR):
            raise FlowimgError(
                f"files maps {source} to {target}, inside {RESERVED_DIR}, which holds flowimg's manifest and "
                "runtime; choose another destination such as /opt/flows"
            )
        if not is_file and _is_within(RESERVED_DIR, target) and os.path.lexists(
                os.path.join(source, posixpath.relpath(RESERVED_DIR, target))):
            raise FlowimgError(
                f"files maps the folder {source} to {target}, so its {posixpath.relpath(RESERVED_DIR, target)} "
                f"would cover {RESERVED_DIR}, flowimg's own folder; map a folder without it"
            )
        copies.append(FileCopy(source=source, dest=target, context_name=CODE_DIR + target))
    _check_overlaps(copies)
    return tuple(copies)


def _check_overlaps(copies: List[FileCopy]) -> None:
    """Two mappings must not both put something at one image path: one would silently win."""
    for outer in copies:
        for inner in copies:
            if inner is outer or not _is_within(inner.dest, outer.dest):
                continue
            if inner.dest == outer.dest:
                clash = True
            elif os.path.isdir(outer.source):
                clash = os.path.lexists(os.path.join(outer.source, posixpath.relpath(inner.dest, outer.dest)))
            else:
                clash = True  # a file cannot hold anything
            if clash:
                raise FlowimgError(
                    f"files maps both {outer.source} (to {outer.dest}) and {inner.source} (to {inner.dest}); "
                    f"only one of them could be at {inner.dest} in the image: give each its own destination"
                )


def image_path_for(copies: Tuple[FileCopy, ...], local_path: str) -> Optional[str]:
    """Where a local file lands in the image through `files`, if it does."""
    local_path = os.path.abspath(local_path)
    for copy in copies:
        if copy.source == local_path:
            return copy.dest
        if os.path.isdir(copy.source) and local_path.startswith(copy.source.rstrip("/") + "/"):
            return posixpath.join(copy.dest, os.path.relpath(local_path, copy.source))
    return None


def covered_by_files(copies: Tuple[FileCopy, ...], image_path: str) -> Optional[str]:
    """The local file that lands at `image_path`, if `files` puts one there."""
    image_path = posixpath.normpath(image_path)
    for copy in copies:
        if copy.dest == image_path and os.path.isfile(copy.source):
            return copy.source
        if os.path.isdir(copy.source) and image_path.startswith(copy.dest.rstrip("/") + "/"):
            candidate = os.path.join(copy.source, posixpath.relpath(image_path, copy.dest))
            if os.path.isfile(candidate):
                return candidate
    return None


def env_pairs(env_vars: Optional[Mapping[str, Any]]) -> Tuple[Tuple[str, str], ...]:
    pairs = []
    for key, value in sorted((env_vars or {}).items()):
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise FlowimgError(f"env_vars name {key!r} is not a valid variable name; use letters, digits and _")
        pairs.append((key, str(value)))
    return tuple(pairs)
