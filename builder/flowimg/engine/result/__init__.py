"""Prefect's `engine.result` path: the Result base class and NoResult."""
from __future__ import annotations

from ..results import Result
from ..state import NoResult

__all__ = ["NoResult", "Result"]
