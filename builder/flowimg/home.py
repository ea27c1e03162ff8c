"""Where flowimg keeps its own state: FLOWIMG_HOME, default ~/.flowimg, and its caches there."""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


def flowimg_home() -> str:
    return os.path.abspath(os.path.expanduser(os.environ.get("FLOWIMG_HOME") or "~/.flowimg"))


def cache_path(*parts: str) -> str:
    """A file under FLOWIMG_HOME/cache; every cache there is keyed by what its entries were made from."""
    return os.path.join(flowimg_home(), "cache", *parts)


def read_cached(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def keep_json(path: str, value: Any) -> None:
    """`value` as JSON at `path`, written only when it differs from what is there: a warm run writes nothing."""
    import json

    text = json.dumps(value, sort_keys=True).encode()
    if read_cached(path) != text:
        write_cached(path, text)


def write_cached(path: str, data: bytes) -> None:
    """Whole or not at all (a reader never sees half a file); a read-only home only costs a recompute."""
    partial = f"{path}.{os.getpid()}.part"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, "wb") as fh:
            fh.write(data)
        os.replace(partial, path)
    except OSError:
        pass
