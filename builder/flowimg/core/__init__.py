"""The graph model: Flow, Task, Parameter, Edge (Prefect's `prefect.core` paths)."""
from __future__ import annotations

from .edge import Edge
from .flow import Flow
from .task import DateTimeParameter, Parameter, Task

__all__ = ["DateTimeParameter", "Edge", "Flow", "Parameter", "Task"]
