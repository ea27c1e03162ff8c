"""One pass over a flow: submit every task that can run now, then decide the flow's state.

The runner only talks to the executor through `submit` and `wait`. Task states travel as futures
from one submitted call into the next; only a mapped task's parent is waited for, to learn how
many children to submit.
"""
from __future__ import annotations

import copy
import datetime
import uuid

from ..utilities.context import context as flowimg_context
from ..utilities.datetimes import as_datetime
from ..utilities.datetimes import now as now_datetime
from ..utilities.logging import get_logger
from . import signals
from .state import Failed, Mapped, Pending, Running, State, Success, through_handlers
from .task_runner import TaskRunner, run_task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional


def _dates(now: datetime.datetime) -> Dict[str, Any]:
    day = datetime.timedelta(days=1)
    fmt = {"today": now, "yesterday": now - day, "tomorrow": now + day}
    out: Dict[str, Any] = {"date": now}
    for key, when in fmt.items():
        out[key] = when.strftime("%Y-%m-%d")
        out[f"{key}_nodash"] = when.strftime("%Y%m%d")
    return out


def flatten_upstream_state(state: State) -> State:
    """A list-of-lists result passed through `flatten(...)` becomes one flat list."""
    if not state.is_successful() or state.result is None:
        return state
    flat = copy.copy(state)
    flat.result = [item for part in state.result for item in (part if isinstance(part, (list, tuple)) else [part])]
    return flat


def flatten_mapped_children(children: List[Any], executor: Any) -> List[State]:
    """Each child's list result becomes one state per element (for mapping over `flatten(mapped)`)."""
    flat: List[State] = []
    for child in executor.wait(list(children)):
        if child.is_successful() and isinstance(child.result, (list, tuple)):
            for item in child.result:
                part = copy.copy(child)
                part.result = item
                flat.append(part)
        else:
            flat.append(child)
    return flat


class FlowRunner:
    """Runs a flow's tasks once (retries that are not due yet stay for the next pass)."""

    def __init__(self, flow: Any, task_runner_cls: Optional[type] = None,
                 state_handlers: Optional[Iterable[Callable]] = None) -> None:
        self.flow = flow
        self.task_runner_cls = task_runner_cls or TaskRunner
        self.state_handlers = list(state_handlers or [])
        self.logger = get_logger("FlowRunner")

    def _change(self, old: State, new: State) -> State:
        """Every flow state change goes through the flow's, then the runner's, state handlers."""
        if new is old:
            return new
        try:
            new = through_handlers(self.flow, self, old, new)
        except signals.ENDRUN as exc:
            return exc.state
        except signals.PrefectStateSignal as exc:
            return exc.state
        except Exception as exc:
            if flowimg_context.get("raise_on_exception"):
                raise
            message = f"Unexpected error while calling state handlers: {exc!r}"
            self.logger.exception(message)
            return Failed(message, result=exc)
        return new

    def run(self, state: Optional[State] = None, task_states: Optional[Dict[Any, State]] = None,
            return_tasks: Optional[Iterable[Any]] = None, parameters: Optional[Dict[str, Any]] = None,
            executor: Any = None, context: Optional[Dict[str, Any]] = None,
            task_contexts: Optional[Dict[Any, Dict[str, Any]]] = None) -> State:
        flow = self.flow
        state = state if state is not None else Pending()
        given = dict(parameters or {})
        params = {p.name: p.default for p in flow.ordered_tasks() if _is_parameter(p)}
        params.update(given)
        now = now_datetime()
        ctx: Dict[str, Any] = dict(_dates(now))
        ctx.update(flowimg_context.to_dict())
        ctx.update(context or {})
        ctx.update(flow_name=flow.name, parameters=params, logger=flow.logger)
        ctx.setdefault("flow_run_id", str(uuid.uuid4()))
        ctx.setdefault("flow_run_name", ctx["flow_run_id"])
        ctx.setdefault("flow_id", flow.name)
        ctx["scheduled_start_time"] = as_datetime(ctx.get("scheduled_start_time") or now)
        ctx.setdefault("caches", {})
        self.logger.info(f"Beginning Flow run for '{flow.name}'")
        with flowimg_context(ctx):
            try:
                if not (state.is_pending() or state.is_running()):
                    self.logger.info("Flow is not ready to run.")
                    return state
                if not state.is_running():
                    state = self._change(state, Running("Running flow."))
                if not state.is_running():
                    return state
                new = self._run_tasks(state, dict(task_states or {}), return_tasks, executor,
                                      ctx, task_contexts or {})
            except Exception as exc:
                if flowimg_context.get("raise_on_exception"):
                    raise
                self.logger.exception(f"Unexpected error while running flow: {exc!r}")
                new = Failed(f"Unexpected error while running flow: {exc!r}", result=exc)
            return self._change(state, new)

    def _run_tasks(self, state: State, task_states: Dict[Any, Any], return_tasks: Optional[Iterable[Any]],
                   executor: Any, ctx: Dict[str, Any], task_contexts: Dict[Any, Dict[str, Any]]) -> State:
        flow = self.flow
        if executor is None:
            from ..executors import LocalExecutor

            executor = flow.executor or LocalExecutor()
        base = {k: v for k, v in ctx.items() if k not in ("flow", "caches")}
        mapped_children: Dict[Any, List[Any]] = {}
        with executor.start():
            from ..tasks.core.constants import Constant

            for task in flow.sorted_tasks():
                if isinstance(task, Constant):
                    # Prefect never runs constants: their state is their value.
                    task_states[task] = Success(result=task.value)
                    continue
                current = task_states.get(task)
                if current is not None and current.is_finished() and not current.is_mapped():
                    continue
                upstream_states: Dict[Any, Any] = {}
                upstream_mapped: Dict[Any, List[Any]] = {}
                children_by_edge: Dict[Any, List[Any]] = {}
                for edge in flow._edges_to.get(task, ()):
                    up = task_states.get(edge.upstream_task, Pending("Task state not available."))
                    if isinstance(up, Mapped):
                        children = mapped_children.get(edge.upstream_task, up.map_states)
                        if edge.flattened:
                            children = flatten_mapped_children(children, executor)
                            up = copy.copy(up)
                            up.map_states = list(children)
                            up.n_map_states = len(children)
                        children_by_edge[edge] = children
                        if not edge.mapped:
                            upstream_mapped[edge] = children
                    elif edge.flattened:
                        up = executor.submit(flatten_upstream_state, up)
                    upstream_states[edge] = up
                for key, value in flow.constants.get(task, {}).items():
                    upstream_states[_constant_edge(task, key, value)] = Success(
                        "Auto-generated constant value", result=value)
                task_ctx = dict(base, **task_contexts.get(task, {}))
                slug = flow.slugs[task]
                task_ctx.update(task_slug=slug, task_id=slug, task_run_id=str(uuid.uuid4()))
                if any(edge.mapped for edge in upstream_states):
                    upstream_states = executor.wait(upstream_states)
                    parent = executor.wait(executor.submit(
                        run_task, task, current, upstream_states, task_ctx, self.task_runner_cls,
                        upstream_mapped, True, extra_context=_extra(task, slug)))
                    task_states[task] = parent
                    submitted = []
                    for index, states in enumerate(_child_upstreams(parent, upstream_states, children_by_edge)):
                        previous = None
                        if isinstance(current, Mapped) and len(current.map_states) > index:
                            previous = current.map_states[index]
                        child_ctx = dict(task_ctx, map_index=index, task_run_id=str(uuid.uuid4()),
                                         task_full_name=f"{task.name}[{index}]")
                        submitted.append(executor.submit(
                            run_task, task, previous, states, child_ctx, self.task_runner_cls,
                            upstream_mapped, False, extra_context=_extra(task, slug, index)))
                    if isinstance(parent, Mapped):
                        mapped_children[task] = submitted
                else:
                    task_states[task] = executor.submit(
                        run_task, task, current, upstream_states, task_ctx, self.task_runner_cls,
                        upstream_mapped, False, extra_context=_extra(task, slug))
            finals = executor.wait({t: task_states.get(t, Pending("Task not evaluated by FlowRunner."))
                                    for t in flow.ordered_tasks()})
            for task, final in finals.items():
                if isinstance(final, Mapped):
                    if task in mapped_children:
                        final.map_states = list(executor.wait(mapped_children[task]))
                    final.result = [s.result for s in final.map_states]
        return self._final_state(state, finals, return_tasks)

    def _final_state(self, state: State, finals: Dict[Any, State], return_tasks: Optional[Iterable[Any]]) -> State:
        flow = self.flow

        def expanded(tasks: Iterable[Any]) -> List[State]:
            out: List[State] = []
            for t in tasks:
                s = finals[t]
                out.extend(s.map_states if isinstance(s, Mapped) else [s])
            return out

        terminal = expanded(flow.terminal_tasks())
        key_states = expanded(flow.reference_tasks())
        shown = finals if return_tasks is None else {t: finals[t] for t in return_tasks}
        if not all(s.is_finished() for s in terminal):
            self.logger.info("Flow run RUNNING: terminal tasks are incomplete.")
            state.result = shown
            return state
        if any(s.is_failed() for s in key_states):
            self.logger.info("Flow run FAILED: some reference tasks failed.")
            new: State = Failed("Some reference tasks failed.", result=shown)
        elif all(s.is_successful() for s in key_states):
            self.logger.info("Flow run SUCCESS: all reference tasks succeeded")
            new = Success("All reference tasks succeeded.", result=shown)
        else:
            self.logger.info("Flow run SUCCESS: no reference tasks failed")
            new = Success("No reference tasks failed.", result=shown)
        handler = getattr(flow, "terminal_state_handler", None)
        if handler is not None:
            new = handler(flow, new, set(key_states)) or new
        return new


def _is_parameter(task: Any) -> bool:
    from ..core.task import Parameter

    return isinstance(task, Parameter)


def _constant_edge(task: Any, key: str, value: Any) -> Any:
    from ..core.edge import Edge
    from ..tasks.core.constants import Constant

    return Edge(Constant(value), task, key=key)


def _extra(task: Any, slug: str, index: Optional[int] = None) -> Dict[str, Any]:
    extra = {"task_name": task.name, "task_slug": slug, "task_tags": sorted(task.tags)}
    if index is not None:
        extra["task_index"] = index
    return extra


def _child_upstreams(parent: State, upstream_states: Dict[Any, State],
                     children_by_edge: Dict[Any, List[Any]]) -> List[Dict[Any, Any]]:
    """For each child of a mapped task, the upstream states it sees (element i of each mapped input)."""
    if not isinstance(parent, Mapped):
        return []
    out = []
    for index in range(parent.n_map_states):
        states: Dict[Any, Any] = {}
        for edge, up in upstream_states.items():
            if not edge.mapped:
                states[edge] = up
            elif edge in children_by_edge:
                states[edge] = children_by_edge[edge][index]
            else:
                element = copy.copy(up)
                element.result = up.result[index] if hasattr(up.result, "__getitem__") else None
                states[edge] = element
        out.append(states)
    return out
