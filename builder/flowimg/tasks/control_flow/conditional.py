"""switch / ifelse / merge: branches that do not match are Skipped, and so is what follows them."""
from __future__ import annotations


from ...utilities.context import context
from ...core.task import Task
from ...engine import signals
from ...utilities.tasks import as_task, tags, task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict


class Merge(Task):
    """The first non-None result of its upstream branches (skipped branches give None)."""

    def __init__(self, **kwargs: Any) -> None:
        from ... import triggers

        if kwargs.setdefault("skip_on_upstream_skip", False):
            raise ValueError("Merge tasks must have `skip_on_upstream_skip=False`.")
        kwargs.setdefault("trigger", triggers.not_all_skipped)
        super().__init__(**kwargs)

    def run(self, **task_results: Any) -> Any:
        return next((v for _, v in sorted(task_results.items()) if v is not None), None)


class CompareValue(Task):
    """Skips (and so skips everything downstream) unless its input equals `value`."""

    def __init__(self, value: Any, **kwargs: Any) -> None:
        self.value = value
        kwargs.setdefault("name", f'CompareValue: "{value}"')
        super().__init__(**kwargs)

    def run(self, value: Any) -> None:
        if value != self.value:
            raise signals.SKIP(f'Provided value "{value}" did not match "{self.value}"')


def switch(condition: Any, cases: Dict[Any, Any], mapped: bool = False) -> None:
    with tags("switch"):
        for value, branch in cases.items():
            branch = as_task(branch)
            match = CompareValue(value=value).bind(value=condition, mapped=mapped)
            branch.set_dependencies(upstream_tasks=[match], mapped=mapped)


@task
def _as_bool(x: Any) -> bool:
    return bool(x)


def ifelse(condition: Any, true_task: Any, false_task: Any, mapped: bool = False) -> None:
    cases = {c: t for c, t in ((True, true_task), (False, false_task)) if t is not None}
    if cases:
        as_bool = _as_bool.copy(name="as_bool")
        switch(condition=as_bool(condition, mapped=mapped), cases=cases, mapped=mapped)


def merge(*tasks: Any, flow: Any = None, mapped: bool = False, **kwargs: Any) -> Task:
    flow = flow or context.get("flow")
    return Merge(**kwargs).bind(**{f"task_{i + 1}": t for i, t in enumerate(tasks)}, flow=flow, mapped=mapped)
