"""Prefect 0.12's `prefect.engine.executors` path for the executors."""
from __future__ import annotations


from ..executors import Executor, LocalExecutor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Executor", "LocalExecutor", "LocalDaskExecutor", "DaskExecutor"]  # noqa: F822 (module __getattr__)


def __getattr__(name: str) -> Any:
    from .. import executors

    return getattr(executors, name)
