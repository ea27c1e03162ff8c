"""Termination signals as exceptions, so `with` and `finally` blocks clean up (or record) on the way out."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit while the block runs.

    Only where the default handler (plain death, skipping every cleanup) would run; a handler
    the program installed itself is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    replaced = {}
    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) == signal.SIG_DFL:
            replaced[number] = signal.signal(number, _raise_exit)
    try:
        yield
    finally:
        for number, previous in replaced.items():
            signal.signal(number, previous)


def _raise_exit(number: int, _frame: Any) -> None:
    raise SystemExit(128 + number)
