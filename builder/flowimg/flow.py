"""Tasks, parameters and the Flow DAG; the structure hash ignores task bodies on purpose."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import FlowimgError

_NO_DEFAULT = object()
_active_flows: List["Flow"] = []


class Task:
    """A function that becomes a node each time it is called inside `with Flow(...)`."""

    def __init__(self, fn: Optional[Callable] = None, name: Optional[str] = None) -> None:
        self.fn = fn
        self.name = name or (fn.__name__ if fn is not None else type(self).__name__)
        self.__doc__ = getattr(fn, "__doc__", None)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> "Node":
        if not _active_flows:
            raise FlowimgError(
                f"task '{self.name}' was called outside a flow; call it inside `with Flow(...):`"
            )
        return _active_flows[-1].add_node(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


def task(fn: Optional[Callable] = None, *, name: Optional[str] = None) -> Any:
    """Decorator: `@task` or `@task(name="...")`."""
    if fn is None:
        return lambda f: Task(f, name=name)
    return Task(fn, name=name)


class Parameter(Task):
    """A flow input, given at run time by name; its value is the node's result."""

    def __init__(self, name: str, default: Any = _NO_DEFAULT, required: Optional[bool] = None) -> None:
        super().__init__(None, name=name)
        self.default = default
        self.required = default is _NO_DEFAULT if required is None else required
        if _active_flows:
            _active_flows[-1].parameter_node(self)

    def __call__(self, *args: Any, **kwargs: Any) -> "Node":
        raise FlowimgError(f"parameter '{self.name}' is not callable; use it as a task argument")


class Node:
    """One call of a task inside a flow: its slug is unique and stable across runs."""

    def __init__(self, task_: Task, slug: str, args: tuple, kwargs: dict) -> None:
        self.task = task_
        self.slug = slug
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"<Node {self.slug}>"


def _node_refs(value: Any) -> List[Node]:
    if isinstance(value, Node):
        return [value]
    if isinstance(value, (list, tuple, set)):
        return [n for v in value for n in _node_refs(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _node_refs(v)]
    return []


def _resolve(value: Any, results: Dict[str, Any]) -> Any:
    if isinstance(value, Node):
        return results[value.slug]
    if isinstance(value, (list, tuple, set)):
        return type(value)(_resolve(v, results) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    return value


class FlowRunError(FlowimgError):
    """A task raised while the flow ran."""


class Flow:
    """A named DAG of task calls, built by calling tasks inside `with Flow(name):`."""

    def __init__(self, name: str, storage: Any = None) -> None:
        if not name or not isinstance(name, str):
            raise FlowimgError("a flow needs a non-empty name: Flow('my-flow')")
        self.name = name
        self.storage = storage
        self.nodes: List[Node] = []
        self.edges: List[Tuple[str, str, str]] = []
        self._parameter_nodes: Dict[int, Node] = {}

    def __enter__(self) -> "Flow":
        _active_flows.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _active_flows.remove(self)

    def parameter_node(self, parameter: Parameter) -> Node:
        """A parameter joins the flow once, where it is made or first used."""
        if id(parameter) not in self._parameter_nodes:
            self._parameter_nodes[id(parameter)] = self.add_node(parameter, (), {})
        return self._parameter_nodes[id(parameter)]

    def _bind(self, value: Any) -> Any:
        if isinstance(value, Parameter):
            return self.parameter_node(value)
        if isinstance(value, (list, tuple, set)):
            return type(value)(self._bind(v) for v in value)
        if isinstance(value, dict):
            return {k: self._bind(v) for k, v in value.items()}
        return value

    def add_node(self, task_: Task, args: tuple, kwargs: dict) -> Node:
        args = self._bind(args)
        kwargs = self._bind(kwargs)
        count = sum(1 for n in self.nodes if n.task.name == task_.name)
        slug = f"{task_.name}-{count + 1}" if not isinstance(task_, Parameter) else task_.name
        node = Node(task_, slug, args, kwargs)
        for position, arg in enumerate(args):
            for up in _node_refs(arg):
                self.edges.append((up.slug, slug, str(position)))
        for key, arg in kwargs.items():
            for up in _node_refs(arg):
                self.edges.append((up.slug, slug, key))
        self.nodes.append(node)
        return node

    @property
    def tasks(self) -> List[Task]:
        return [n.task for n in self.nodes]

    def parameters(self) -> Dict[str, Any]:
        """Parameter names with their defaults (None when required)."""
        return {
            n.task.name: (None if n.task.default is _NO_DEFAULT else n.task.default)
            for n in self.nodes
            if isinstance(n.task, Parameter)
        }

    def structure(self) -> Dict[str, Any]:
        """What must not change without re-registering: task names, slugs, order and edges."""
        return {
            "tasks": [
                {"slug": n.slug, "name": n.task.name, "kind": "parameter" if isinstance(n.task, Parameter) else "task"}
                for n in self.nodes
            ],
            "edges": [list(e) for e in self.edges],
        }

    def structure_hash(self) -> str:
        return structure_hash(self.structure())

    def run(self, parameters: Optional[Dict[str, Any]] = None, log: Callable[[str], None] = print) -> Dict[str, Any]:
        """Run every node in the order it was added (always a valid topological order)."""
        given = dict(parameters or {})
        known = {n.task.name for n in self.nodes if isinstance(n.task, Parameter)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise FlowimgError(
                f"flow '{self.name}' has no parameter {', '.join(unknown)}; "
                f"its parameters are: {', '.join(sorted(known)) or 'none'}"
            )
        results: Dict[str, Any] = {}
        for node in self.nodes:
            if isinstance(node.task, Parameter):
                if node.task.name in given:
                    results[node.slug] = given[node.task.name]
                elif node.task.required:
                    raise FlowimgError(
                        f"flow '{self.name}' needs parameter '{node.task.name}'; pass --param {node.task.name}=VALUE"
                    )
                else:
                    results[node.slug] = node.task.default
                continue
            args = _resolve(node.args, results)
            kwargs = _resolve(node.kwargs, results)
            try:
                results[node.slug] = node.task.run(*args, **kwargs)
            except Exception as exc:
                raise FlowRunError(
                    f"task '{node.slug}' of flow '{self.name}' failed: {type(exc).__name__}: {exc}"
                ) from exc
            log(f"Task '{node.slug}': Finished")
        return results

    def __repr__(self) -> str:
        return f"<Flow {self.name}: {len(self.nodes)} tasks>"


def structure_hash(structure: Dict[str, Any]) -> str:
    text = json.dumps(structure, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def describe_structure_change(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """Human words for what differs between two structures, for the 'please re-register' error."""
    old_slugs = [t["slug"] for t in old["tasks"]]
    new_slugs = [t["slug"] for t in new["tasks"]]
    added = [s for s in new_slugs if s not in old_slugs]
    removed = [s for s in old_slugs if s not in new_slugs]
    changes: List[str] = []
    if len(added) == 1 and len(removed) == 1 and len(old_slugs) == len(new_slugs):
        changes.append(f"task renamed: '{removed[0]}' -> '{added[0]}'")
    else:
        changes += [f"task added: '{s}'" for s in added]
        changes += [f"task removed: '{s}'" for s in removed]
    if not changes and old_slugs != new_slugs:
        changes.append("tasks reordered: " + ", ".join(new_slugs))
    old_edges = {tuple(e) for e in old["edges"]}
    new_edges = {tuple(e) for e in new["edges"]}
    changes += [f"edge added: {e[0]} -> {e[1]}" for e in sorted(new_edges - old_edges)]
    changes += [f"edge removed: {e[0]} -> {e[1]}" for e in sorted(old_edges - new_edges)]
    if not changes and old != new:
        changes.append("task kinds changed")
    return changes
