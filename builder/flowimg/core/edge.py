"""Edges between tasks, and the annotations (`unmapped`, `mapped`, `flatten`) that shape them."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


class EdgeAnnotation:
    """Wraps a task argument to say how the edge treats it."""

    annotations: dict = {}

    def __init__(self, value: Any) -> None:
        self.value = value
        self.annotations = {}


class mapped(EdgeAnnotation):
    """Map over this argument even in a plain call: `t(mapped(xs), y)`."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.annotations = {"mapped": True}


class unmapped(EdgeAnnotation):
    """Pass this argument whole to every mapped child: `t.map(xs, unmapped(y))`."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.annotations = {"mapped": False}


class flatten(EdgeAnnotation):
    """Pass a list of lists as one flat list: `t.map(flatten(nested))`."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.annotations = {"flattened": True}


def strip_annotations(value: Any) -> tuple:
    """The wrapped value and the merged annotations of every wrapper around it."""
    found: dict = {}
    while isinstance(value, EdgeAnnotation):
        for key, flag in value.annotations.items():
            found.setdefault(key, flag)
        value = value.value
    return value, found


class Edge:
    """`upstream` feeds `downstream`, under argument `key` when data passes (None: order only)."""

    def __init__(self, upstream_task: Any, downstream_task: Any, key: Optional[str] = None,
                 mapped: bool = False, flattened: bool = False, flow: Any = None) -> None:
        from ..utilities.tasks import as_task

        if key is not None and not (isinstance(key, str) and key.isidentifier()):
            raise ValueError(f'key must be a valid identifier (received "{key}")')
        self.upstream_task = as_task(upstream_task, flow=flow)
        self.downstream_task = as_task(downstream_task, flow=flow)
        self.key = key
        self.mapped = mapped
        self.flattened = flattened
        # The argument's position when it was passed positionally: older structure hashes use it.
        self.position: Optional[int] = None

    @property
    def tasks(self) -> set:
        return {self.upstream_task, self.downstream_task}

    def __repr__(self) -> str:
        key = f"(key={self.key})" if self.key else ""
        return f"<Edge{key}: {self.upstream_task.name} to {self.downstream_task.name}>"

    def _identity(self) -> tuple:
        return (self.upstream_task, self.downstream_task, self.key, self.mapped, self.flattened)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Edge) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((id(self.upstream_task), id(self.downstream_task), self.key, self.mapped, self.flattened))
