"""Image references parsed the way Docker parses them, so the registry derived from a name is Docker's.

Grammar (distribution/reference): [domain/]component(/component)*[:tag][@digest]. The first
component is a registry only if it holds a `.` or a `:`, is `localhost`, or has upper-case letters;
otherwise the name lives on Docker Hub (`team/flows` is `docker.io/team/flows`).
"""
from __future__ import annotations

import re

from ..errors import FlowimgError
from ..record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_DOMAIN_RE = re.compile(_DOMAIN)
_REMAINDER = re.compile(rf"(?P<path>{_PATH})(?::(?P<tag>{TAG.pattern}))?(?:@(?P<digest>{_DIGEST}))?")
NAME_MAX = 255


class Reference(Record):
    __slots__ = ("registry", "path", "tag", "digest")
    registry: Optional[str]  # None: Docker Hub
    path: str
    tag: Optional[str]
    digest: Optional[str]

    def __init__(self, registry: Optional[str], path: str, tag: Optional[str] = None,
                 digest: Optional[str] = None) -> None:
        self.registry, self.path, self.tag, self.digest = registry, path, tag, digest

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}" if self.registry else self.path


def is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost" or component != component.lower()


def parse_reference(text: str, what: str = "image reference") -> Reference:
    """Refuses anything Docker would refuse, including a trailing newline or a second line."""
    text = text if isinstance(text, str) else ""
    first, slash, rest = text.partition("/")
    registry = first if slash and is_registry(first) else None
    found = _REMAINDER.fullmatch(rest if registry else text)
    if (found is None or len(found.group("path")) > NAME_MAX
            or (registry is not None and not _DOMAIN_RE.fullmatch(registry))):
        raise FlowimgError(
            f"invalid {what} {text!r}: use [registry/]name[:tag][@digest] with a lowercase name of "
            "letters, digits and . _ - separated by /, e.g. localhost:5000/my-flows:1"
        )
    return Reference(registry, found.group("path"), found.group("tag"), found.group("digest"))


def registry_of(text: str) -> Optional[str]:
    """The registry an image name is pushed to and logged in to; None means Docker Hub."""
    return parse_reference(text).registry
