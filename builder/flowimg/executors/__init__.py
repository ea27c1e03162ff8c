"""Executors: where task runs happen. The Dask ones load only when named (dask is optional)."""
from __future__ import annotations


from .base import Executor
from .local import LocalExecutor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Executor", "LocalExecutor", "LocalDaskExecutor", "DaskExecutor"]


def __getattr__(name: str) -> Any:
    if name in ("LocalDaskExecutor", "DaskExecutor"):
        from . import dask

        return getattr(dask, name)
    raise AttributeError(f"module 'flowimg.executors' has no attribute '{name}'")
