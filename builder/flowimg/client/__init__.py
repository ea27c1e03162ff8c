"""Prefect's `prefect.client` path; only local secrets exist here (there is no Prefect server)."""
from __future__ import annotations

from .secrets import Secret

__all__ = ["Secret"]
