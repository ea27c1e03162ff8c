"""`with case(task, value):` tasks made in the block run only when `task`'s result equals `value`."""
from __future__ import annotations


from ...utilities.context import context
from ...core.task import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Set


class case:
    def __init__(self, task: Any, value: Any) -> None:
        if isinstance(value, Task):
            raise TypeError("`value` cannot be a task")
        self.task = task
        self.value = value
        self._tasks: Set[Task] = set()
        self._order: list = []
        self._flow: Optional[Any] = None
        self._previous: Any = None

    def add_task(self, task: Task, flow: Any) -> None:
        if self._flow is None:
            self._flow = flow
        elif self._flow is not flow:
            raise ValueError("Multiple flows cannot be used with the same case statement")
        if task not in self._tasks:
            self._tasks.add(task)
            self._order.append(task)

    def __enter__(self) -> "case":
        self._previous = context.get("case")
        context.update(case=self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is None:
            context.pop("case", None)
        else:
            context.update(case=self._previous)
        if self._tasks:
            from .conditional import CompareValue

            condition = CompareValue(self.value, name=f"case({self.value})").bind(value=self.task, flow=self._flow)
            for child in self._order:
                if not self._tasks.intersection(self._flow.upstream_tasks(child)):  # type: ignore[union-attr]
                    child.set_upstream(condition, flow=self._flow)
