"""The names older flowimg code imports from `flowimg.flow`; the engine lives in `flowimg.core`."""
from __future__ import annotations

from .core.flow import Flow, FlowValidationError
from .core.structure import describe_structure_change, structure_hash
from .core.task import Parameter, Task
from .utilities.tasks import task



class Node:
    """Only met when unpickling a flow pickled by flowimg's first engine, which cannot run here."""

    def __setstate__(self, state: dict) -> None:
        from .errors import FlowimgError

        raise FlowimgError("this flow was pickled by an older flowimg engine; register it again with "
                           "`flowimg register` so it is stored for this one")


__all__ = ["Flow", "FlowValidationError", "Parameter", "Task", "describe_structure_change", "structure_hash",
           "task"]
