"""A task whose `run` is a plain function (what `@task` makes)."""
from __future__ import annotations


from ...core.task import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional


class FunctionTask(Task):
    def __init__(self, fn: Callable, name: Optional[str] = None, **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError("fn must be callable")
        self.run = fn  # type: ignore[method-assign]
        if name is None:
            name = getattr(fn, "__name__", type(self).__name__)
        self.__doc__ = getattr(fn, "__doc__", None)
        super().__init__(name=name, **kwargs)
