"""Termination signals as exceptions, so `with` and `finally` blocks clean up (or record) on the way out."""
from __future__ import annotations

import contextlib
import signal
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C, so code that lets Ctrl-C through lets this through too."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.exit_code = 128 + number


def _raise_exit(number: int, _frame: Any) -> None:
    raise SystemExit(128 + number)


def _raise_terminated(number: int, _frame: Any) -> None:
    raise Terminated(number)


@contextlib.contextmanager
def exit_on_signals(interrupt: bool = False) -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit (or, with `interrupt`, Terminated) while the block runs.

    Only where the default handler (plain death, skipping every cleanup) would run; a handler
    the program installed itself is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler: Callable[[int, Any], None] = _raise_terminated if interrupt else _raise_exit
    replaced = {}
    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) == signal.SIG_DFL:
            replaced[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, previous in replaced.items():
            signal.signal(number, previous)
