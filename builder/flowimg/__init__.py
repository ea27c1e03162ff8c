"""flowimg: package workflow code into Docker images and store flows as scripts."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import FlowimgError
from .flow import Flow, Parameter, Task, task

__all__ = ["Flow", "FlowimgError", "Parameter", "Task", "task", "__version__"]
