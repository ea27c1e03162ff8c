"""A filter or adjustment made from arguments, kept in a form that serialises by name."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Tuple


class Rule:
    """`name(*args)` from filters.py or adjustments.py; calling it applies `fn(dt, *args)`.

    A plain class rather than a dataclass: schedules import on every flow load, and
    dataclasses pulls in inspect.
    """

    __slots__ = ("name", "args", "fn")

    def __init__(self, name: str, args: Tuple[Any, ...], fn: Callable[..., Any]) -> None:
        self.name = name
        self.args = args
        self.fn = fn

    def __call__(self, dt: Any) -> Any:
        return self.fn(dt, *self.args)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Rule) and (self.name, self.args) == (other.name, other.args)

    def __hash__(self) -> int:
        return hash((self.name, self.args))

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(map(repr, self.args))})"
