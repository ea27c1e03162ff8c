"""Flows: a named graph of tasks, built inside `with Flow(...)` or with the imperative API, and run."""
from __future__ import annotations

import collections
import itertools
import sys

from ..utilities.context import context
from ..errors import FlowimgError
from .edge import Edge, strip_annotations
from .task import Parameter, Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional, Set


class FlowValidationError(FlowimgError, ValueError):
    """The flow's graph or inputs cannot run (a cycle, unknown parameters, ...)."""


class Flow:
    """A named DAG of tasks; `flow.run()` returns the flow's final State."""

    def __init__(self, name: str, schedule: Any = None, executor: Any = None, environment: Any = None,
                 run_config: Any = None, storage: Any = None, tasks: Optional[Iterable[Task]] = None,
                 edges: Optional[Iterable[Edge]] = None, reference_tasks: Optional[Iterable[Task]] = None,
                 state_handlers: Optional[List[Callable]] = None, on_failure: Optional[Callable] = None,
                 validate: Optional[bool] = None, result: Any = None,
                 terminal_state_handler: Optional[Callable] = None) -> None:
        if not name or not isinstance(name, str):
            raise FlowimgError("a flow needs a non-empty name: Flow('my-flow')")
        self.name = name
        if schedule is not None:
            _check_schedule(schedule)
        self.schedule = schedule
        self.executor = executor
        self.environment = environment
        self.run_config = run_config
        self.storage = storage
        self.result = result
        self.terminal_state_handler = terminal_state_handler
        self.state_handlers = list(state_handlers or [])
        if on_failure is not None:
            from .task import _failure_handler

            self.state_handlers.append(_failure_handler(on_failure))
        self._tasks: Dict[Task, None] = {}
        self._edges: Dict[Edge, None] = {}
        self._edges_to: Dict[Task, List[Edge]] = collections.defaultdict(list)
        self._edges_from: Dict[Task, List[Edge]] = collections.defaultdict(list)
        self.constants: Dict[Task, Dict[str, Any]] = collections.defaultdict(dict)
        self.slugs: Dict[Task, str] = {}
        self._slug_counters: Dict[str, Iterable[int]] = collections.defaultdict(lambda: itertools.count(1))
        self._reference_tasks: Set[Task] = set()
        self._sorted: Optional[tuple] = None
        for t in tasks or ():
            self.add_task(t)
        for e in edges or ():
            self.add_edge(e.upstream_task, e.downstream_task, key=e.key, mapped=e.mapped, flattened=e.flattened)
        self.set_reference_tasks(reference_tasks or [])

    def __repr__(self) -> str:
        return f"<Flow: name=\"{self.name}\">"

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_slug_counters"] = {k: next(_copy_count(v)) for k, v in self._slug_counters.items()}
        state["_edges_to"] = dict(self._edges_to)
        state["_edges_from"] = dict(self._edges_from)
        state["constants"] = dict(self.constants)
        state.pop("_ctx", None)
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        counters = state.pop("_slug_counters")
        self.__dict__.update(state)
        self._slug_counters = collections.defaultdict(lambda: itertools.count(1))
        for prefix, start in counters.items():
            self._slug_counters[prefix] = itertools.count(start)
        self._edges_to = collections.defaultdict(list, self._edges_to)
        self._edges_from = collections.defaultdict(list, self._edges_from)
        self.constants = collections.defaultdict(dict, self.constants)

    @property
    def logger(self) -> Any:
        from ..utilities.logging import get_logger

        return get_logger(self.name)

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> "Flow":
        self._ctx = context(flow=self)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        ctx = self.__dict__.pop("_ctx")
        ctx.__exit__(*exc)

    # -- graph -----------------------------------------------------------------------------

    @property
    def tasks(self) -> Set[Task]:
        return set(self._tasks)

    @property
    def edges(self) -> Set[Edge]:
        return set(self._edges)

    def ordered_tasks(self) -> List[Task]:
        """Tasks in the order they joined the flow (what the structure hash records)."""
        return list(self._tasks)

    def ordered_edges(self) -> List[Edge]:
        return list(self._edges)

    def _generate_task_slug(self, task: Task) -> str:
        prefix = "-".join([task.name, *sorted(task.tags)])
        used = set(self.slugs.values())
        while True:
            slug = f"{prefix}-{next(self._slug_counters[prefix])}"  # type: ignore[call-overload]
            if slug not in used:
                return slug

    def add_task(self, task: Task) -> Task:
        if not isinstance(task, Task):
            raise TypeError(f"Tasks must be Task instances (received {type(task)})")
        if task in self._tasks:
            return task
        if task.slug and task.slug in self.slugs.values():
            raise FlowValidationError(
                f"flow '{self.name}' already has a task with slug '{task.slug}'; give this one another slug or name"
            )
        self.slugs[task] = task.slug or self._generate_task_slug(task)
        self._tasks[task] = None
        self._sorted = None
        from ..tasks.core.constants import Constant

        if not isinstance(task, (Parameter, Constant)):
            for key in ("case", "resource"):
                scope = context.get(key)
                if scope is not None:
                    scope.add_task(task, self)
        return task

    def add_edge(self, upstream_task: Any, downstream_task: Any, key: Optional[str] = None, mapped: bool = False,
                 flattened: bool = False, validate: Optional[bool] = None, position: Optional[int] = None) -> Edge:
        if isinstance(downstream_task, Parameter):
            raise FlowValidationError(
                f"parameter '{downstream_task.name}' cannot have upstream tasks; parameters are flow inputs"
            )
        edge = Edge(upstream_task, downstream_task, key=key, mapped=mapped, flattened=flattened, flow=self)
        edge.position = position
        from ..tasks.core.constants import Constant

        if isinstance(edge.upstream_task, Constant) and edge.key and not edge.mapped and not edge.flattened \
                and edge.upstream_task not in self._tasks:
            self.constants[edge.downstream_task][edge.key] = edge.upstream_task.value
            self.add_task(edge.downstream_task)
            return edge
        self.add_task(edge.upstream_task)
        self.add_task(edge.downstream_task)
        if edge not in self._edges:
            self._edges[edge] = None
            self._edges_to[edge.downstream_task].append(edge)
            self._edges_from[edge.upstream_task].append(edge)
        self._sorted = None
        if validate:
            self.validate()
        return edge

    def set_dependencies(self, task: Any, upstream_tasks: Optional[Iterable[Any]] = None,
                         downstream_tasks: Optional[Iterable[Any]] = None,
                         keyword_tasks: Optional[Dict[str, Any]] = None, mapped: bool = False,
                         validate: Optional[bool] = None, positions: Optional[Dict[str, int]] = None) -> None:
        from ..utilities.tasks import as_task

        task = as_task(task, flow=self)
        positions = positions or {}
        wired = []
        for key, value in list((keyword_tasks or {}).items()) + [(None, up) for up in upstream_tasks or ()]:
            value, notes = strip_annotations(value)
            is_mapped = notes.get("mapped", mapped)
            flattened = notes.get("flattened", False)
            up = as_task(value, flow=self)
            if not (_is_constant(up) and key is not None and not is_mapped and not flattened):
                self.add_task(up)
            wired.append((up, key, is_mapped, flattened))
        self.add_task(task)
        for up, key, is_mapped, flattened in wired:
            self.add_edge(up, task, key=key, mapped=is_mapped, flattened=flattened, validate=validate,
                          position=positions.get(key) if key is not None else None)
        for down in downstream_tasks or ():
            self.add_edge(task, down, validate=validate)

    def chain(self, *tasks: Task, validate: Optional[bool] = None) -> List[Edge]:
        return [self.add_edge(a, b, validate=validate) for a, b in zip(tasks, tasks[1:])]

    def edges_to(self, task: Task) -> Set[Edge]:
        return set(self._edges_to.get(task, ()))

    def edges_from(self, task: Task) -> Set[Edge]:
        return set(self._edges_from.get(task, ()))

    def upstream_tasks(self, task: Task) -> Set[Task]:
        return {e.upstream_task for e in self._edges_to.get(task, ())}

    def downstream_tasks(self, task: Task) -> Set[Task]:
        return {e.downstream_task for e in self._edges_from.get(task, ())}

    def root_tasks(self) -> Set[Task]:
        return {t for t in self._tasks if not self._edges_to.get(t)}

    def terminal_tasks(self) -> Set[Task]:
        return {t for t in self._tasks if not self._edges_from.get(t)}

    def reference_tasks(self) -> Set[Task]:
        """Set ones, else the terminal tasks (a resource's cleanup never counts, as in Prefect)."""
        if self._reference_tasks:
            return set(self._reference_tasks)
        return {t for t in self._tasks if not getattr(t, "not_a_reference", False)
                and all(getattr(d, "cleans_up", False) for d in self.downstream_tasks(t))}

    def set_reference_tasks(self, tasks: Iterable[Task]) -> None:
        tasks = set(tasks)
        if any(t not in self._tasks for t in tasks):
            raise FlowValidationError("reference tasks must be part of the flow")
        self._reference_tasks = tasks

    def parameters(self) -> Set[Parameter]:
        return {t for t in self._tasks if isinstance(t, Parameter)}

    def parameter_defaults(self) -> Dict[str, Any]:
        """Parameter names with their defaults (None when required), in the order they joined."""
        return {t.name: t.default for t in self._tasks if isinstance(t, Parameter)}

    def get_tasks(self, name: Optional[str] = None, slug: Optional[str] = None,
                  tags: Optional[Iterable[str]] = None, task_type: Optional[type] = None) -> List[Task]:
        found = []
        for t in self._tasks:
            if name is not None and t.name != name:
                continue
            if slug is not None and self.slugs.get(t) != slug:
                continue
            if tags is not None and not set(tags) <= t.tags:
                continue
            if task_type is not None and not isinstance(t, task_type):
                continue
            found.append(t)
        return found

    def update(self, flow: "Flow", merge_parameters: bool = False, validate: Optional[bool] = None) -> None:
        """Add another flow's tasks, edges and constants to this one."""
        for t in flow.ordered_tasks():
            if not (merge_parameters and isinstance(t, Parameter) and t.name in {p.name for p in self.parameters()}):
                self.add_task(t)
        for e in flow.ordered_edges():
            self.add_edge(e.upstream_task, e.downstream_task, key=e.key, mapped=e.mapped,
                          flattened=e.flattened, position=e.position)
        for t, consts in flow.constants.items():
            self.constants[t].update(consts)

    def replace(self, old: Task, new: Any) -> None:
        from ..utilities.tasks import as_task

        new = as_task(new, flow=self)
        edges = [e for e in self._edges if old in e.tasks]
        for e in edges:
            self._edges.pop(e)
            self._edges_to[e.downstream_task].remove(e)
            self._edges_from[e.upstream_task].remove(e)
        self._tasks.pop(old, None)
        self.slugs.pop(old, None)
        self.add_task(new)
        for e in edges:
            self.add_edge(new if e.upstream_task is old else e.upstream_task,
                          new if e.downstream_task is old else e.downstream_task,
                          key=e.key, mapped=e.mapped, flattened=e.flattened, position=e.position)
        if old in self.constants:
            self.constants[new] = self.constants.pop(old)

    def copy(self) -> "Flow":
        import copy

        new = copy.copy(self)
        new._tasks = dict(self._tasks)
        new._edges = dict(self._edges)
        new._edges_to = collections.defaultdict(list, {k: list(v) for k, v in self._edges_to.items()})
        new._edges_from = collections.defaultdict(list, {k: list(v) for k, v in self._edges_from.items()})
        new.constants = collections.defaultdict(dict, {k: dict(v) for k, v in self.constants.items()})
        new.slugs = dict(self.slugs)
        new._reference_tasks = set(self._reference_tasks)
        return new

    def sorted_tasks(self, root_tasks: Optional[Iterable[Task]] = None) -> tuple:
        """Upstream before downstream; among independent tasks, the order they joined the flow."""
        if self._sorted is None or root_tasks is not None:
            order = _topological(self)
            if root_tasks is None:
                self._sorted = order
            else:
                keep = set(root_tasks)
                for t in order:
                    if self.upstream_tasks(t) & keep:
                        keep.add(t)
                return tuple(t for t in order if t in keep)
        return self._sorted

    def validate(self) -> None:
        self.sorted_tasks()

    # -- structure (what registration compares) -------------------------------------------

    def structure(self) -> Dict[str, Any]:
        from .structure import flow_structure

        return flow_structure(self)

    def structure_hash(self) -> str:
        from .structure import structure_hash

        return structure_hash(self.structure())

    # -- running ---------------------------------------------------------------------------

    def run(self, parameters: Optional[Dict[str, Any]] = None, run_on_schedule: Optional[bool] = None,
            runner_cls: Optional[type] = None, **kwargs: Any) -> Any:
        """Run the flow here (on its schedule, if it has one) and return its final State.

        While flowimg loads a script (register, run, build checks) this returns None at once, as
        Prefect's did, so a module-level `flow.run()` never runs the flow as a side effect of loading.
        """
        if context.get("loading_flow"):
            return None
        if "_ctx" in self.__dict__:
            raise FlowimgError(
                f"flow.run() was called inside `with Flow('{self.name}')`; call it after the with block"
            )
        from .running import run_flow

        return run_flow(self, parameters, run_on_schedule, runner_cls, kwargs)

    def register(self, project_name: Optional[str] = None, **kwargs: Any) -> None:
        """Registration is flowimg's CLI job; inside a script this does nothing."""
        if not context.get("loading_flow"):
            sys.stderr.write(
                f"flowimg: flow.register() does nothing; register flow '{self.name}' with "
                "`flowimg register -p <this script>`\n"
            )
        return None

    def visualize(self, flow_state: Any = None, filename: Optional[str] = None, format: Optional[str] = None,
                  horizontal: bool = False) -> Any:
        """The task graph as a `graphviz.Digraph` (saved to `filename` when given), as Prefect 1 drew it;
        without the graphviz package this raises ImportError, as Prefect's did. Loading draws nothing."""
        if context.get("loading_flow"):
            return None
        try:
            import graphviz
        except ImportError as exc:
            raise ImportError("This feature requires graphviz.\n"
                              "Try re-installing flowimg with `pip install 'flowimg[viz]'`") from exc
        graph = graphviz.Digraph()
        if horizontal:
            graph.graph_attr["rankdir"] = "LR"
        mapped = {edge.downstream_task for edge in self.edges if edge.mapped}
        for task in self.tasks:
            label = f"{task.name} <map>" if task in mapped else task.name
            graph.node(str(id(task)), graphviz.escape(label), shape="box" if task in mapped else "ellipse")
        for edge in sorted(self.edges, key=lambda e: (self.slugs[e.upstream_task], self.slugs[e.downstream_task])):
            graph.edge(str(id(edge.upstream_task)), str(id(edge.downstream_task)), edge.key,
                       style="dashed" if edge.mapped else None)
        if filename:
            graph.render(filename, view=False, format=format, cleanup=True)
        return graph

    def serialize(self, build: bool = False) -> Dict[str, Any]:
        data = {"name": self.name, "structure": self.structure()}
        if self.schedule is not None:
            data["schedule"] = schedule_dict(self.schedule)
        return data


def _is_constant(task: Task) -> bool:
    from ..tasks.core.constants import Constant

    return isinstance(task, Constant)


def _copy_count(counter: Any) -> Any:
    """Peek an itertools.count without consuming it (pickling a flow must not shift slugs)."""
    import copy

    return copy.copy(counter)


def _check_schedule(schedule: Any) -> None:
    clocks = getattr(schedule, "clocks", None)
    if clocks is not None and not clocks:
        raise FlowimgError("the flow's schedule has no clocks; give it one, e.g. IntervalSchedule(interval=...)")


def schedule_dict(schedule: Any) -> Any:
    """The schedule as plain data for the registered metadata (whatever form the schedule offers)."""
    for attr in ("to_dict", "serialize", "as_dict"):
        method = getattr(schedule, attr, None)
        if callable(method):
            return method()
    return repr(schedule)


def _topological(flow: Flow) -> tuple:
    pending = {t: len({e.upstream_task for e in flow._edges_to.get(t, ())}) for t in flow._tasks}
    position = {t: i for i, t in enumerate(flow._tasks)}
    import heapq

    ready = [(position[t], id(t), t) for t, n in pending.items() if n == 0]
    heapq.heapify(ready)
    order: List[Task] = []
    while ready:
        _, _, t = heapq.heappop(ready)
        order.append(t)
        for down in {e.downstream_task for e in flow._edges_from.get(t, ())}:
            pending[down] -= 1
            if pending[down] == 0:
                heapq.heappush(ready, (position[down], id(down), down))
    if len(order) != len(flow._tasks):
        raise FlowValidationError(_describe_cycle(flow, [t for t in flow._tasks if pending[t] > 0]))
    return tuple(order)


def _describe_cycle(flow: Flow, stuck: List[Task]) -> str:
    stuck_set = set(stuck)
    path: List[Task] = [stuck[0]]
    seen = {stuck[0]: 0}
    while True:
        nxt = next(u for u in flow.upstream_tasks(path[-1]) if u in stuck_set)
        if nxt in seen:
            cycle = path[seen[nxt]:] + [nxt]
            break
        seen[nxt] = len(path)
        path.append(nxt)
    names = " -> ".join(flow.slugs[t] for t in reversed(cycle))
    return f"flow '{flow.name}' has a cycle: {names}; remove one of these dependencies"
