"""Record: the plain data class of the modules a warm `flowimg build` imports.

`@dataclass` compiles each class's `__init__`, `__repr__` and `__eq__` from source when its module is
imported, about a millisecond a class: sixteen of them were a tenth of an edit-and-build. A Record names
its fields in `__slots__` and spells out `__init__`; equality, hashing and repr follow `__slots__`.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Tuple


class Record:
    __slots__: Tuple[str, ...] = ()
    _not_shown: Tuple[str, ...] = ()     # left out of repr: secrets, bytes
    _not_compared: Tuple[str, ...] = ()  # left out of equality and hashing: caches of other fields

    def _compared(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__ if name not in self._not_compared)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name not in self._not_shown)
        return f"{type(self).__name__}({shown})"
