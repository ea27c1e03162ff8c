"""Tasks that gather upstream results into a list, tuple, set or dict."""
from __future__ import annotations


from ...core.task import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Optional


class _Gather(Task):
    """Binds positional values as arg_1, arg_2, ... so each keeps its place."""

    def bind(self, *args: Any, upstream_tasks: Optional[Iterable[Any]] = None, flow: Any = None, **kwargs: Any) -> Task:
        mapped = kwargs.pop("mapped", False)
        named = {f"arg_{i + 1}": a for i, a in enumerate(args)}
        flow = self._flow_for(flow)
        flow.set_dependencies(task=self, upstream_tasks=upstream_tasks, keyword_tasks=named, mapped=mapped)
        return self

    def _values(self, task_results: dict) -> list:
        return [task_results[f"arg_{i + 1}"] for i in range(len(task_results))]

    def run(self, **task_results: Any) -> Any:
        return self._values(task_results)


class List(_Gather):
    def run(self, **task_results: Any) -> list:
        return self._values(task_results)


class Tuple(_Gather):
    def run(self, **task_results: Any) -> tuple:
        return tuple(self._values(task_results))


class Set(_Gather):
    def run(self, **task_results: Any) -> set:
        return set(self._values(task_results))


class Dict(Task):
    def run(self, keys: Any, values: Any) -> dict:
        if len(keys) != len(values):
            raise ValueError("A different number of keys and values were provided!")
        return dict(zip(keys, values))
