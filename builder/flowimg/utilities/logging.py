"""Loggers named `flowimg.<name>`, formatted as Prefect 1 did, through the standard `logging` module."""
from __future__ import annotations

import logging
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

FORMAT = "[%(asctime)s] %(levelname)s - %(name)s | %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S%z"
ROOT = "flowimg"
_configured = False
_handler: Optional[logging.StreamHandler] = None


def _configure() -> logging.Logger:
    """One stdout handler on the `flowimg` logger, added the first time a logger is asked for."""
    global _configured, _handler
    root = logging.getLogger(ROOT)
    if not _configured:
        _configured = True
        _handler = logging.StreamHandler(sys.stdout)
        _handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        root.addHandler(_handler)
        if root.level == logging.NOTSET:
            root.setLevel(_level_from_environment())
    return root


def _level_from_environment() -> int:
    """FLOWIMG__LOGGING__LEVEL (or Prefect's PREFECT__LOGGING__LEVEL), INFO when unset or unknown."""
    import os

    for name in ("FLOWIMG__LOGGING__LEVEL", "PREFECT__LOGGING__LEVEL"):
        level = logging.getLevelName(os.environ.get(name, "").upper())
        if isinstance(level, int):
            return level
    return logging.INFO


def get_logger(name: Optional[str] = None) -> logging.Logger:
    root = _configure()
    return root if name is None else root.getChild(name)


def send_logs_to(stream: Any) -> None:
    """`flowimg run` keeps stdout for what tasks print and sends run logs to stderr."""
    _configure()
    if _handler is not None:
        _handler.setStream(stream)


class RedirectToLog:
    """A stdout stand-in for `log_stdout=True`: each non-blank write becomes an INFO record."""

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        self.logger = logger or get_logger("stdout")

    def write(self, text: Any) -> None:
        if not isinstance(text, str):
            raise TypeError(f"string argument expected, got {type(text).__name__}")
        if text.strip():
            self.logger.info(text)

    def flush(self) -> None:
        """Records go out as they are written."""
