"""Which WORKDIR the flow code layer lands under, read from the Dockerfile text flowimg will build.

Docker resolves a relative COPY destination against the WORKDIR in effect; flowimg lays files
out at absolute paths, so it resolves them the same way first.
"""
from __future__ import annotations

import posixpath
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional, Tuple

_FROM = re.compile(r"\s*FROM\s+(?:--\S+\s+)*(\S+)", re.IGNORECASE)
_WORKDIR = re.compile(r"\s*WORKDIR\s+(.+?)\s*", re.IGNORECASE)


def final_stage(lines: Iterable[str], base_image: str) -> Tuple[str, Optional[str]]:
    """(the final stage's base image, the WORKDIR its own lines set or None).

    A FROM or WORKDIR holding template syntax or `$` cannot be known before rendering: the FROM
    falls back to `base_image`, such a WORKDIR is ignored.
    """
    base, workdir = base_image, None
    for line in lines:
        found = _FROM.fullmatch(line.split(" AS ")[0].split(" as ")[0])
        if found:
            image = found.group(1)
            base, workdir = (base_image if "{" in image or "$" in image else image), None
            continue
        found = _WORKDIR.fullmatch(line)
        if found and "{" not in found.group(1) and "$" not in found.group(1):
            value = found.group(1).strip("\"'")
            workdir = posixpath.normpath(posixpath.join(workdir or "/", value)) if workdir or value.startswith("/") else value
    return base, workdir
