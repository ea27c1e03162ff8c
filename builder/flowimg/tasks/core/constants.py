"""A task that returns a fixed value (literal arguments become these)."""
from __future__ import annotations


from ...core.task import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Constant(Task):
    def __init__(self, value: Any, name: Any = None, **kwargs: Any) -> None:
        self.value = value
        if name is None:
            name = repr(value)
            if len(name) > 8:
                name = f"Constant[{type(value).__name__}]"
        super().__init__(name=name, **kwargs)

    def run(self) -> Any:
        return self.value
