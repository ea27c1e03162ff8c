"""Branching: `case`, `ifelse`, `switch`, `merge`, and FilterTask."""
from __future__ import annotations

from .case import case
from .conditional import CompareValue, Merge, ifelse, merge, switch
from .filter import FilterTask

__all__ = ["CompareValue", "FilterTask", "Merge", "case", "ifelse", "merge", "switch"]
