"""A filter or adjustment made from arguments, kept in a form that serialises by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Tuple


@dataclass(frozen=True)
class Rule:
    """`name(*args)` from filters.py or adjustments.py; calling it applies `fn(dt, *args)`."""

    name: str
    args: Tuple[Any, ...]
    fn: Callable[..., Any] = field(compare=False, repr=False)

    def __call__(self, dt: Any) -> Any:
        return self.fn(dt, *self.args)
