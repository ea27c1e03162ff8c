"""Task helpers with Prefect's `utilities.tasks` names: as_task, tags, defaults_from_attrs, apply_map."""
from __future__ import annotations

import functools
from contextlib import contextmanager

from .context import context
from ..core.edge import EdgeAnnotation, flatten, mapped, unmapped
from ..errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterator, Optional

__all__ = ["as_task", "tags", "defaults_from_attrs", "task", "unmapped", "mapped", "flatten", "apply_map",
           "pause_task"]


def _has_task(value: Any) -> bool:
    from ..core.task import Task

    if isinstance(value, (Task, EdgeAnnotation)):
        return True
    if isinstance(value, (list, tuple, set)):
        return any(_has_task(v) for v in value)
    if isinstance(value, dict):
        return any(_has_task(v) for v in value.values())
    return False


def as_task(value: Any, flow: Any = None) -> Any:
    """A task for any value: tasks stay, literals become Constants, collections holding tasks collect them."""
    from ..core.task import Task
    from ..tasks.core import collections
    from ..tasks.core.constants import Constant

    if isinstance(value, Task):
        return value
    if isinstance(value, EdgeAnnotation):
        return as_task(value.value, flow=flow)
    if not _has_task(value):
        made: Any = Constant(value)
    elif isinstance(value, list):
        made = collections.List().bind(*value, flow=flow)
    elif isinstance(value, tuple):
        made = collections.Tuple().bind(*value, flow=flow)
    elif isinstance(value, set):
        made = collections.Set().bind(*value, flow=flow)
    elif isinstance(value, dict):
        made = collections.Dict().bind(keys=list(value), values=list(value.values()), flow=flow)
    else:
        made = Constant(value)
    made._flowimg_auto = True
    return made


@contextmanager
def tags(*tags: str) -> Iterator[None]:
    """Tasks made or called in this block get these tags."""
    current = set(context.get("tags", set()))
    with context(tags=current | set(tags)):
        yield


def task(fn: Optional[Callable] = None, **task_init_kwargs: Any) -> Any:
    """`@task` or `@task(name=..., max_retries=...)`: a FunctionTask running `fn`."""
    from ..tasks.core.function import FunctionTask

    if fn is None:
        return lambda f: FunctionTask(fn=f, **task_init_kwargs)
    return FunctionTask(fn=fn, **task_init_kwargs)


def defaults_from_attrs(*attr_args: str) -> Callable:
    """Decorate `run`: arguments left as None take the task attribute of the same name."""

    def wrapper(method: Callable) -> Callable:
        import inspect

        names = attr_args or tuple(p for p in inspect.signature(method).parameters if p != "self")

        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            for name in names:
                if kwargs.get(name) is None:
                    kwargs[name] = getattr(self, name)
            return method(self, *args, **kwargs)

        return run

    return wrapper


def apply_map(func: Callable, *args: Any, flow: Any = None, **kwargs: Any) -> Any:
    """Build `func`'s tasks once and map every one of them over the mapped arguments."""
    from ..core.flow import Flow

    flow = flow or context.get("flow")
    if flow is None:
        raise FlowimgError("apply_map() was called outside a flow; call it inside `with Flow(...):`")
    inner = Flow("apply_map inner")
    placeholders: Dict[Any, Any] = {}
    call_args = []
    for i, arg in enumerate(args):
        call_args.append(_placeholder(arg, f"arg_{i}", placeholders, flow))
    call_kwargs = {k: _placeholder(v, k, placeholders, flow) for k, v in kwargs.items()}
    with context(flow=inner, mapped=True):
        result = func(*call_args, **call_kwargs)
    made: dict = {}
    made_mapped: dict = {}
    for t in inner.sorted_tasks():
        if t in placeholders:
            continue
        edges = inner._edges_to.get(t, [])
        call = {}
        ups = []
        any_mapped = False
        for e in edges:
            src = e.upstream_task
            if src in placeholders:
                value, is_mapped = placeholders[src]
                src_value: Any = value if is_mapped else unmapped(value)
                any_mapped = any_mapped or is_mapped
            else:
                src_value = made[src]
                any_mapped = any_mapped or made_mapped.get(src, False)
                src_value = src_value if made_mapped.get(src, False) else unmapped(src_value)
            if e.key is None:
                ups.append(src_value)
            else:
                call[e.key] = src_value
        for key, value in inner.constants.get(t, {}).items():
            call[key] = unmapped(value)
        copy = t.copy()
        if any_mapped:
            copy.bind(upstream_tasks=ups or None, mapped=True, flow=flow, **call)
        else:
            copy.bind(upstream_tasks=[u.value if isinstance(u, unmapped) else u for u in ups] or None, flow=flow,
                      **{k: (v.value if isinstance(v, unmapped) else v) for k, v in call.items()})
        made[t] = copy
        made_mapped[copy] = any_mapped
        made_mapped[t] = any_mapped
    return _swap(result, made)


def _placeholder(value: Any, name: str, placeholders: dict, flow: Any) -> Any:
    """A stand-in task for one argument of `apply_map`'s function; the value becomes one task."""
    from ..core.task import Task

    value, notes = _strip(value)
    is_mapped = notes.get("mapped", True)
    if is_mapped:
        value = as_task(value, flow=flow)
    holder = Task(name=f"apply_map:{name}")
    placeholders[holder] = (value, is_mapped)
    return holder


def _strip(value: Any) -> tuple:
    from ..core.edge import strip_annotations

    return strip_annotations(value)


def _swap(result: Any, made: dict) -> Any:
    from ..core.task import Task

    if isinstance(result, Task):
        return made.get(result, result)
    if isinstance(result, (list, tuple)):
        return type(result)(_swap(r, made) for r in result)
    if isinstance(result, dict):
        return {k: _swap(v, made) for k, v in result.items()}
    return result


def pause_task(message: Optional[str] = None, duration: Any = None) -> None:
    raise FlowimgError(
        "pause_task() waits for a person to resume the run through a backend flowimg does not have; "
        "split the flow in two instead"
    )
