"""Tasks: units of work that become graph nodes when called (or bound) inside a flow.

Calling a task inside `with Flow(...)` binds a copy of it, as Prefect 1 does, so the same task
called twice gives two nodes (`name-1`, `name-2`) and the copies are what states are keyed by.
"""
from __future__ import annotations

import copy as _copy
import datetime

from .call_shape import CallShape, call_shape
from ..utilities.context import context
from ..errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

NO_DEFAULT = object()
RESERVED_ARGS = ("upstream_tasks", "mapped", "task_args", "flow")
_signatures: Dict[Any, Any] = {}
_shapes: Dict[Any, Optional[CallShape]] = {}


class TaskDefinitionError(FlowimgError, ValueError):
    """A task was defined or wired in a way the engine cannot run."""


class TaskTypeError(FlowimgError, TypeError):
    """A task was called or mapped with arguments it cannot take."""


def run_signature(task: "Task") -> Any:
    """The `run` signature, cached per function (binding happens for every call in a flow)."""
    import inspect

    run = task.run
    key = getattr(run, "__func__", run)
    found = _signatures.get(key)
    if found is None:
        found = _signatures[key] = inspect.signature(run)
    return found


def run_shape(task: "Task") -> Optional[CallShape]:
    """The `run` parameters from its code object when it is a plain function (see core/call_shape.py)."""
    run = task.run
    key = getattr(run, "__func__", run)
    if key not in _shapes:
        _shapes[key] = call_shape(run)
    return _shapes[key]


def _check_run_signature(task: "Task") -> None:
    shape = run_shape(task)
    if shape is not None:
        params = [(name, name == shape.var_positional) for name in shape.names]
    else:
        import inspect

        params = [(p.name, p.kind is inspect.Parameter.VAR_POSITIONAL) for p in run_signature(task).parameters.values()]
    for name, var_positional in params:
        if var_positional:
            raise TaskDefinitionError(
                f"task '{task.name}' takes *{name}; tasks get arguments by name, so list them "
                "explicitly or take one list argument"
            )
        if name in RESERVED_ARGS:
            raise TaskDefinitionError(
                f"task '{task.name}' has an argument named '{name}', which tasks reserve; rename it"
            )


class Task:
    """A unit of work: subclass it and define `run()`, or use the `@task` decorator."""

    def __init__(self, name: Optional[str] = None, slug: Optional[str] = None, tags: Optional[Iterable[str]] = None,
                 max_retries: Optional[int] = None, retry_delay: Optional[datetime.timedelta] = None,
                 retry_on: Any = None, timeout: Any = None, trigger: Optional[Callable] = None,
                 skip_on_upstream_skip: bool = True, cache_for: Optional[datetime.timedelta] = None,
                 cache_validator: Optional[Callable] = None, cache_key: Optional[str] = None,
                 checkpoint: Optional[bool] = None, state_handlers: Optional[List[Callable]] = None,
                 on_failure: Optional[Callable] = None, log_stdout: bool = False, result: Any = None,
                 target: Any = None, task_run_name: Any = None, nout: Optional[int] = None) -> None:
        self.name = name or type(self).__name__
        self.slug = slug
        self.tags = set(tags or ())
        self.tags.update(context.get("tags", ()))
        max_retries = 0 if max_retries is None else max_retries
        if max_retries > 0 and retry_delay is None:
            raise TaskDefinitionError(
                f"task '{self.name}' sets max_retries but no retry_delay; add retry_delay=timedelta(seconds=...)"
            )
        if retry_delay is not None and not isinstance(retry_delay, datetime.timedelta):
            raise TaskDefinitionError(f"task '{self.name}': retry_delay must be a datetime.timedelta")
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        if retry_on is not None and isinstance(retry_on, type):
            retry_on = {retry_on}
        self.retry_on = set(retry_on) if retry_on else None
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        if timeout is not None and not isinstance(timeout, (int, float)):
            raise TaskDefinitionError(f"task '{self.name}': timeout must be seconds (int) or a timedelta")
        self.timeout = timeout
        from .. import triggers

        if trigger is None:
            trigger = triggers.all_successful
        elif not callable(trigger):
            raise TaskDefinitionError(
                f"task '{self.name}' has trigger {trigger!r}, which is not a function; "
                f"use one of flowimg.triggers ({', '.join(triggers.__all__)})"
            )
        elif trigger is triggers.manual_only:
            raise TaskDefinitionError(
                f"task '{self.name}' uses trigger manual_only, which waits for a person to approve it through "
                "a backend flowimg does not have; use another trigger or split the flow in two"
            )
        self.trigger = trigger
        self.skip_on_upstream_skip = skip_on_upstream_skip
        self.cache_for = cache_for
        self.cache_key = cache_key
        if cache_validator is None:
            from ..engine import cache_validators

            cache_validator = cache_validators.duration_only
        self.cache_validator = cache_validator
        self.checkpoint = checkpoint
        self.state_handlers = list(state_handlers or [])
        if on_failure is not None:
            self.state_handlers.append(_failure_handler(on_failure))
        self.log_stdout = log_stdout
        self.result = result
        self.target = target
        self.task_run_name = task_run_name
        if nout is None:
            nout = _nout_from_annotation(self)
        self.nout = nout
        _check_run_signature(self)

    # -- identity ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<Task: {self.name}>"

    __hash__ = object.__hash__

    @property
    def logger(self) -> Any:
        from ..utilities.logging import get_logger

        return get_logger(self.name)

    def run(self) -> Any:
        """Subclasses do their work here; the engine passes upstream results as keyword arguments."""

    def copy(self, **task_args: Any) -> "Task":
        new = _copy.copy(self)
        if new.slug and "slug" not in task_args:
            task_args["slug"] = new.slug + "-copy"
        for attr, value in task_args.items():
            if not hasattr(new, attr):
                raise AttributeError(f"{self} does not have {attr} as an attribute")
            setattr(new, attr, value)
        new.tags = set(self.tags).union(set(new.tags))
        new.tags.update(context.get("tags", ()))
        new.state_handlers = list(new.state_handlers)
        return new

    def inputs(self) -> Dict[str, Dict[str, Any]]:
        import inspect
        import typing

        inputs = {}
        for name, param in run_signature(self).parameters.items():
            if param.kind in (inspect.Parameter.VAR_KEYWORD,):
                continue
            inputs[name] = {"required": param.default is inspect.Parameter.empty,
                            "type": param.annotation if param.annotation is not inspect.Parameter.empty else typing.Any}
        return inputs

    # -- building the graph -----------------------------------------------------------------

    def __call__(self, *args: Any, mapped: bool = False, task_args: Optional[dict] = None,
                 upstream_tasks: Optional[Iterable[Any]] = None, flow: Any = None, **kwargs: Any) -> "Task":
        new = self.copy(**(task_args or {}))
        return new.bind(*args, mapped=mapped, upstream_tasks=upstream_tasks, flow=flow, **kwargs)

    def bind(self, *args: Any, mapped: bool = False, upstream_tasks: Optional[Iterable[Any]] = None,
             flow: Any = None, **kwargs: Any) -> "Task":
        shape = run_shape(self)
        if shape is not None and shape.binds(len(args), kwargs):
            names = list(shape.names)
        else:  # inspect decides, and words the error
            signature = run_signature(self)
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TaskTypeError(f"task '{self.name}' was called with wrong arguments: {exc}") from None
            names = list(signature.parameters)
        positions = {names[i]: i for i in range(len(args))}
        callargs = {names[i]: arg for i, arg in enumerate(args)}
        callargs.update(kwargs)
        flow = flow or context.get("flow")
        if flow is None:
            raise TaskDefinitionError(
                f"task '{self.name}' was called outside a flow; call it inside `with Flow(...):` "
                f"or run its body directly with `{self.name}.run(...)`"
            )
        flow.set_dependencies(task=self, upstream_tasks=upstream_tasks, keyword_tasks=callargs,
                              mapped=mapped, positions=positions)
        self.tags.update(context.get("tags", ()))
        return self

    def map(self, *args: Any, upstream_tasks: Optional[Iterable[Any]] = None, flow: Any = None,
            task_args: Optional[dict] = None, **kwargs: Any) -> "Task":
        """One child run per element of the mapped arguments (wrap the rest in `unmapped`)."""
        from .edge import EdgeAnnotation

        for arg in args:
            if not hasattr(arg, "__getitem__") and not isinstance(arg, EdgeAnnotation):
                raise TaskTypeError(
                    f"task '{self.name}' cannot map over {repr(arg)[:20]} (a {type(arg).__name__}); map over a "
                    "list, tuple or task result, and wrap values every child shares in unmapped(...)"
                )
        task_args = dict(task_args or {})
        task_args.setdefault("nout", None)
        new = self.copy(**task_args)
        return new.bind(*args, mapped=True, upstream_tasks=upstream_tasks, flow=flow, **kwargs)

    def _flow_for(self, flow: Any) -> Any:
        flow = flow or context.get("flow")
        if flow is None:
            raise TaskDefinitionError(
                f"task '{self.name}' was wired outside a flow; do it inside `with Flow(...):` or pass flow="
            )
        return flow

    def set_dependencies(self, flow: Any = None, upstream_tasks: Optional[Iterable[Any]] = None,
                         downstream_tasks: Optional[Iterable[Any]] = None,
                         keyword_tasks: Optional[Dict[str, Any]] = None, mapped: bool = False,
                         validate: Optional[bool] = None) -> None:
        self._flow_for(flow).set_dependencies(task=self, upstream_tasks=upstream_tasks,
                                              downstream_tasks=downstream_tasks, keyword_tasks=keyword_tasks,
                                              mapped=mapped, validate=validate)

    def set_upstream(self, task: Any, flow: Any = None, key: Optional[str] = None, mapped: bool = False) -> "Task":
        if key is not None:
            self.set_dependencies(flow=flow, keyword_tasks={key: task}, mapped=mapped)
        else:
            self.set_dependencies(flow=flow, upstream_tasks=[task], mapped=mapped)
        return self

    def set_downstream(self, task: Any, flow: Any = None, key: Optional[str] = None, mapped: bool = False) -> "Task":
        flow = self._flow_for(flow)
        if key is not None:
            flow.set_dependencies(task=task, keyword_tasks={key: self}, mapped=mapped)
        else:
            flow.set_dependencies(task=task, upstream_tasks=[self], mapped=mapped)
        return self

    # -- operators build tasks --------------------------------------------------------------

    def __iter__(self) -> Iterator["Task"]:
        if self.nout is None:
            raise TypeError(
                f"task '{self.name}' is not iterable; if it returns several results, pass nout= to the task "
                "or annotate its return type as Tuple[...]"
            )
        return (self[i] for i in range(self.nout))

    def __getitem__(self, key: Any) -> "Task":
        from ..tasks.core.operators import GetItem

        name = f"{self.name}[{key.name}]" if isinstance(key, Task) else f"{self.name}[{key!r}]"
        return GetItem(checkpoint=self.checkpoint, name=name, result=self.result).bind(self, key)

    def __or__(self, other: Any) -> Any:
        self.set_dependencies(downstream_tasks=[other])
        return other

    def __ror__(self, other: Any) -> "Task":
        self.set_dependencies(upstream_tasks=[other])
        return self

    def _op(self, op: str, *args: Any) -> "Task":
        from ..tasks.core import operators

        bound: Task = getattr(operators, op)().bind(*args)
        return bound

    def __add__(self, other: Any) -> "Task":
        return self._op("Add", self, other)

    def __sub__(self, other: Any) -> "Task":
        return self._op("Sub", self, other)

    def __mul__(self, other: Any) -> "Task":
        return self._op("Mul", self, other)

    def __truediv__(self, other: Any) -> "Task":
        return self._op("Div", self, other)

    def __floordiv__(self, other: Any) -> "Task":
        return self._op("FloorDiv", self, other)

    def __mod__(self, other: Any) -> "Task":
        return self._op("Mod", self, other)

    def __pow__(self, other: Any) -> "Task":
        return self._op("Pow", self, other)

    def __and__(self, other: Any) -> "Task":
        return self._op("And", self, other)

    def __radd__(self, other: Any) -> "Task":
        return self._op("Add", other, self)

    def __rsub__(self, other: Any) -> "Task":
        return self._op("Sub", other, self)

    def __rmul__(self, other: Any) -> "Task":
        return self._op("Mul", other, self)

    def __rtruediv__(self, other: Any) -> "Task":
        return self._op("Div", other, self)

    def __rfloordiv__(self, other: Any) -> "Task":
        return self._op("FloorDiv", other, self)

    def __rmod__(self, other: Any) -> "Task":
        return self._op("Mod", other, self)

    def __rpow__(self, other: Any) -> "Task":
        return self._op("Pow", other, self)

    def __rand__(self, other: Any) -> "Task":
        return self._op("And", other, self)

    def __gt__(self, other: Any) -> "Task":
        return self._op("GreaterThan", self, other)

    def __ge__(self, other: Any) -> "Task":
        return self._op("GreaterThanOrEqual", self, other)

    def __lt__(self, other: Any) -> "Task":
        return self._op("LessThan", self, other)

    def __le__(self, other: Any) -> "Task":
        return self._op("LessThanOrEqual", self, other)

    def is_equal(self, other: Any) -> "Task":
        return self._op("Equal", self, other)

    def is_not_equal(self, other: Any) -> "Task":
        return self._op("NotEqual", self, other)

    def not_(self) -> "Task":
        return self._op("Not", self)

    def or_(self, other: Any) -> "Task":
        return self._op("Or", self, other)


def _nout_from_annotation(task: Task) -> Optional[int]:
    """`-> Tuple[int, str]` means two outputs, as in Prefect."""
    shape = run_shape(task)
    try:
        annotation = shape.return_annotation if shape is not None else run_signature(task).return_annotation
    except (TypeError, ValueError):
        return None
    args = getattr(annotation, "__args__", None)
    origin = getattr(annotation, "__origin__", None)
    if origin is tuple and args and Ellipsis not in args:
        return len(args)
    return None


def _failure_handler(on_failure: Callable) -> Callable:
    def handler(obj: Any, old_state: Any, new_state: Any) -> Any:
        if new_state.is_failed():
            on_failure(obj, new_state)
        return new_state

    return handler


class Parameter(Task):
    """A flow input given by name at run time (`flow.run(x=1)`); its value is its result."""

    def __init__(self, name: str, default: Any = NO_DEFAULT, required: Optional[bool] = None,
                 tags: Optional[Iterable[str]] = None) -> None:
        self.required = (default is NO_DEFAULT) if required is None else required
        self.default = None if default is NO_DEFAULT else default
        super().__init__(name=name, slug=name, tags=tags, checkpoint=True)
        flow = context.get("flow")
        if flow is not None:
            flow.add_task(self)

    def __repr__(self) -> str:
        return f"<Parameter: {self.name}>"

    def __call__(self, flow: Any = None) -> "Parameter":
        bound = super().bind(flow=flow)
        assert isinstance(bound, Parameter)
        return bound

    def copy(self, name: Optional[str] = None, **task_args: Any) -> "Task":
        if name is None:
            raise TaskDefinitionError(f"a copy of parameter '{self.name}' needs a new name: .copy(name=...)")
        return super().copy(name=name, slug=name, **task_args)

    def run(self) -> Any:
        from ..engine.signals import ENDRUN
        from ..engine.state import Failed

        params = context.get("parameters") or {}
        if self.required and self.name not in params:
            raise ENDRUN(Failed(f'Parameter "{self.name}" was required but not provided.'))
        return params.get(self.name, self.default)


class DateTimeParameter(Parameter):
    """A parameter given as an ISO 8601 string, passed to tasks as a datetime."""

    def run(self) -> Any:
        value = super().run()
        if value is None or isinstance(value, datetime.datetime):
            return value
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
