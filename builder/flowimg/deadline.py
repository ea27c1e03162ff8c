"""One overall deadline for every network call, so a silent or trickling server cannot hang flowimg.

Client libraries time out per read; a server that sends a byte every few seconds never trips that.
`FLOWIMG_NETWORK_TIMEOUT` (seconds) bounds the whole call instead. Standard library only: the
runtime inside images fetches flows through the same storages.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, TypeVar, cast

from .errors import FlowimgError

TIMEOUT_ENV = "FLOWIMG_NETWORK_TIMEOUT"
DEFAULT_TIMEOUT = 60.0

T = TypeVar("T")


def network_timeout() -> float:
    """Seconds from FLOWIMG_NETWORK_TIMEOUT (default 60); a bad value is the user's to fix."""
    return seconds_from_env(TIMEOUT_ENV, DEFAULT_TIMEOUT)


def seconds_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 10 ** 7:
        raise FlowimgError(f"{name}={raw!r} must be a number of seconds above 0, e.g. {name}=120")
    return seconds


def timed_out(what: str, host: str, seconds: float) -> FlowimgError:
    return FlowimgError(
        f"{what} {host} did not finish within {seconds:g} s; check the host and the network, "
        f"or raise {TIMEOUT_ENV} (seconds)"
    )


def within_deadline(call: Callable[[], T], what: str, host: str) -> T:
    """Run `call` with an overall time limit; past it, give up with one line naming the host.

    The call runs in a daemon thread that is abandoned on time-out, so the caller returns at the
    deadline even while a read is blocked; the client's own per-read timeout ends the thread later.
    """
    seconds = network_timeout()
    outcome: Dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="flowimg-network", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise timed_out(what, host, seconds)
    if "error" in outcome:
        raise outcome["error"]
    return cast(T, outcome["value"])
