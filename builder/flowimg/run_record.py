"""`flowimg run` records itself: a Running row first, then how the run ended, whatever ended it."""
from __future__ import annotations

import collections
import contextlib
import socket
import sys
import threading

from .backend.base import Backend, FlowVersion
from .backend.runs import CANCELLED, FAILED, RUNNING, SUCCESS, now_iso
from .log import Log
from .secrets import redact
from .signals import exit_on_signals
from .targets.base import LOG_TAIL_LINES, Outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Deque, Iterator, List, Optional, TextIO


class _Tee:
    """A stream stand-in that passes text through and keeps its last whole lines, secrets redacted."""

    def __init__(self, stream: TextIO, lines: Deque[str], secrets: List[str]) -> None:
        self._stream, self._lines, self._secrets, self._partial = stream, lines, secrets, ""
        self._lock = threading.Lock()  # tasks on a thread executor print at once

    def write(self, text: str) -> int:
        self._stream.write(text)
        with self._lock:
            self._partial += text
            *whole, self._partial = self._partial.split("\n")
            self._lines.extend(redact(line, self._secrets) for line in whole)
        return len(text)

    def close_line(self) -> None:
        if self._partial:
            self._lines.append(redact(self._partial, self._secrets))
            self._partial = ""

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding...
        return getattr(self._stream, name)


@contextlib.contextmanager
def captured_output(secrets: List[str], lines: int = LOG_TAIL_LINES) -> Iterator[Deque[str]]:
    """The last `lines` lines this process prints on stdout and stderr while the block runs."""
    kept: Deque[str] = collections.deque(maxlen=lines)
    out, err = _Tee(sys.stdout, kept, secrets), _Tee(sys.stderr, kept, secrets)
    previous = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield kept
    finally:
        sys.stdout, sys.stderr = previous
        out.close_line()
        err.close_line()


def local_outcome(run: Callable[[], int], secrets: List[str]) -> Outcome:
    """Run here, keeping what it prints for the record."""
    with captured_output(secrets) as kept:
        code = run()
    return Outcome(exit_code=code, node=socket.gethostname(), log_tail=tuple(kept))


def recorded(backend: Backend, version: FlowVersion, *, parameters: dict, target: str, image: str,
             secrets: List[str], launch: Callable[[], Outcome], log: Log) -> int:
    """Launch with a run record around it; Ctrl-C, SIGTERM and SIGHUP end the record Cancelled."""
    record = backend.create_run(version, parameters=parameters, state=RUNNING, target=target)
    log(f"Flow run {record.id}")
    state, outcome, error = CANCELLED, None, None
    try:
        # Task runners let Ctrl-C through (and catch SystemExit): SIGTERM must look like Ctrl-C.
        with exit_on_signals(interrupt=True):
            outcome = launch()
        state = SUCCESS if outcome.exit_code == 0 else FAILED
        return outcome.exit_code
    except KeyboardInterrupt:
        log(f"Flow run {record.id} interrupted: recorded as Cancelled")
        raise
    except BaseException as exc:
        state, error = FAILED, f"Error: {exc}"
        raise
    finally:
        _finish(backend, record.id, state, outcome, error, image, secrets, log)


def _finish(backend: Backend, run_id: str, state: str, outcome: Optional[Outcome], error: Optional[str],
            image: str, secrets: List[str], log: Log) -> None:
    tail = [redact(line, secrets) for line in (outcome.log_tail if outcome else ())]
    if error:
        tail = (tail + [redact(error, secrets)])[-LOG_TAIL_LINES:]
    ended = backend.update_run(run_id, expect=(RUNNING,), state=state, end_time=now_iso(), image=image,
                               exit_code=outcome.exit_code if outcome else None,
                               node=outcome.node if outcome else socket.gethostname(), log_tail=tail)
    if ended is None:
        log(f"Flow run {run_id} was cancelled while it ran (`flowimg runs cancel`); its record stays Cancelled")
