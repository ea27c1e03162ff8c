"""The graph model: Flow, Task, Parameter, Edge (Prefect's `prefect.core` paths), loaded on first use."""
from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_NAMES = {"Edge": "edge", "Flow": "flow", "Task": "task", "Parameter": "task", "DateTimeParameter": "task"}
__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'flowimg.core' has no attribute '{name}'")
