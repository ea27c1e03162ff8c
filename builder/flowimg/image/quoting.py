"""Values written into a Dockerfile so that the image holds exactly them, or a clear error.

Docker's parser joins a line ending in `\\` with the next one and drops line breaks, so no form of
ENV, LABEL or RUN can carry a line break: such values are refused rather than changed.
Inside a double-quoted ENV/LABEL value Docker expands `$` and treats `\\` as an escape, and
nothing else (checked against a real engine, see tests/test_quoting_e2e.py).
"""
from __future__ import annotations

from ..errors import NotRepresentable

_LINE_BREAKS = ("\n", "\r", "\0")


def _one_line(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise NotRepresentable(f"{what} {value!r} is not a string; give a string")
    if any(ch in value for ch in _LINE_BREAKS):
        raise NotRepresentable(
            f"{what} {value!r} holds a line break, which a Dockerfile cannot carry; "
            "remove it (pass multi-line values at run time instead)"
        )
    return value


def docker_quoted(value: str, what: str = "Dockerfile value") -> str:
    """A double-quoted word for ENV and LABEL: Docker reads it back as exactly `value`."""
    text = _one_line(value, what)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def shell_quoted(value: str, what: str = "RUN argument") -> str:
    """One word for a shell-form RUN: Docker passes RUN text to /bin/sh untouched."""
    import shlex  # only RUN steps need it, and a rendered Dockerfile is usually read from the cache

    return shlex.quote(_one_line(value, what))
