"""One interface for every place a run's container can start, so callers never ask which it is."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

from ..log import Log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

# How many of a run's last output lines are kept for its record (`flowimg runs show`).
LOG_TAIL_LINES = 50


@dataclass(frozen=True)
class Launch:
    """What to start: an image (by digest when known) and the runtime's arguments.

    `secrets` is environment for this one run only, never shown: every value is redacted from output.
    `volumes` and `entrypoint` are set only to lend this flowimg to an image flowimg did not build.
    """

    image: str
    command: List[str]
    name: str
    environment: Dict[str, str] = field(default_factory=dict)
    secrets: Dict[str, str] = field(default_factory=dict)
    labels: Dict[str, str] = field(default_factory=dict)
    network: str = "none"
    volumes: Optional[Dict[str, Any]] = None
    entrypoint: Optional[List[str]] = None


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    node: str
    log_tail: Tuple[str, ...]


def tail(output: str, lines: int = LOG_TAIL_LINES) -> Tuple[str, ...]:
    return tuple(output.splitlines()[-lines:])


class Target(abc.ABC):
    name: str = ""
    # The container networks a run may use here; the first is the default.
    networks: Tuple[str, ...] = ("none", "host")

    @abc.abstractmethod
    def launch(self, launch: Launch, log: Log, out: Log) -> Outcome:
        """Start, stream stdout to `out` and stderr to `log` (secrets redacted), wait, remove. Blocking."""

    @abc.abstractmethod
    def cancel(self, name: str) -> bool:
        """Stop the run started under `name`; False when nothing of that name is running."""

    def discard(self, name: str) -> None:
        """Stop and remove what a launch left behind when its caller died (an agent killed mid-run)."""
        self.cancel(name)
