"""flowimg: package workflow code into Docker images and store flows as scripts.

The flow API mirrors Prefect 1 (`from flowimg import Flow, task, Parameter, case, unmapped, ...`).
Names load on first use so `import flowimg` stays fast inside images.
"""
from __future__ import annotations

import importlib

from .errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_NAMES = {
    "Flow": ("core.flow", "Flow"),
    "Task": ("core.task", "Task"),
    "Parameter": ("core.task", "Parameter"),
    "task": ("utilities.tasks", "task"),
    "tags": ("utilities.tasks", "tags"),
    "apply_map": ("utilities.tasks", "apply_map"),
    "unmapped": ("core.edge", "unmapped"),
    "mapped": ("core.edge", "mapped"),
    "flatten": ("core.edge", "flatten"),
    "case": ("tasks.control_flow.case", "case"),
    "resource_manager": ("tasks.core.resource_manager", "resource_manager"),
    "context": ("utilities.context", "context"),
}
_MODULES = ("core", "engine", "executors", "schedules", "triggers", "tasks", "utilities", "storage", "run_configs")

__all__ = ["FlowimgError", "__version__", *_NAMES, *_MODULES]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        module, attr = _NAMES[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'flowimg' has no attribute '{name}'")
