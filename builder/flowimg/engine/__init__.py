"""The engine: states, signals and the runners (Prefect 1's `prefect.engine` paths)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["state", "signals", "FlowRunner", "TaskRunner", "executors", "get_default_flow_runner_class",
           "get_default_task_runner_class", "get_default_executor_class"]


def get_default_flow_runner_class() -> type:
    from .flow_runner import FlowRunner

    return FlowRunner


def get_default_task_runner_class() -> type:
    from .task_runner import TaskRunner

    return TaskRunner


def get_default_executor_class() -> type:
    from ..executors import LocalExecutor

    return LocalExecutor


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("state", "signals", "executors", "flow_runner", "task_runner", "cache_validators", "results", "result",
                "serializers"):
        return importlib.import_module(f"{__name__}.{name}")
    if name == "FlowRunner":
        return get_default_flow_runner_class()
    if name == "TaskRunner":
        return get_default_task_runner_class()
    raise AttributeError(f"module 'flowimg.engine' has no attribute '{name}'")
