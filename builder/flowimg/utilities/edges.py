"""Prefect's `utilities.edges` path for the edge annotations."""
from __future__ import annotations

from ..core.edge import EdgeAnnotation, flatten, mapped, unmapped

__all__ = ["EdgeAnnotation", "flatten", "mapped", "unmapped"]
