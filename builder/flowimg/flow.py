"""The names older flowimg code imports from `flowimg.flow`; the engine lives in `flowimg.core`."""
from __future__ import annotations

from .core.flow import Flow, FlowValidationError
from .core.structure import describe_structure_change, structure_hash
from .core.task import Parameter, Task
from .utilities.tasks import task

__all__ = ["Flow", "FlowValidationError", "Parameter", "Task", "describe_structure_change", "structure_hash",
           "task"]
