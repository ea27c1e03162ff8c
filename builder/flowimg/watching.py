"""`register --watch`: poll the flow files and re-register when one changes, until interrupted."""
from __future__ import annotations

import os
import time

from .collect import expand_paths
from .log import Log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterable


def _mtimes(paths: Iterable[str]) -> Dict[str, float]:
    stamps: Dict[str, float] = {}
    for script in expand_paths(paths):
        try:
            stamps[script] = os.stat(script).st_mtime_ns
        except FileNotFoundError:
            continue
    return stamps


def watch_paths(paths: Iterable[str], register_again: Callable[[], bool], log: Log, interval: float = 1.0) -> None:
    """Runs until Ctrl-C (SIGINT)."""
    paths = list(paths)
    seen = _mtimes(paths)
    log(f"Watching {len(seen)} file(s) for changes; Ctrl-C to stop.")
    try:
        while True:
            time.sleep(interval)
            now = _mtimes(paths)
            if now != seen:
                seen = now
                register_again()
    except KeyboardInterrupt:
        log("Stopped watching.")
