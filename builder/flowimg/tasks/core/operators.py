"""Tasks behind task arithmetic, comparisons and indexing (`x + 1`, `x > 2`, `x[0]`)."""
from __future__ import annotations


from ...core.task import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Add(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x + y


class Sub(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x - y


class Mul(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x * y


class Div(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x / y


class FloorDiv(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x // y


class Mod(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x % y


class Pow(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x ** y


class And(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x and y


class Or(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x or y


class Equal(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x == y


class NotEqual(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x != y


class GreaterThan(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x > y


class GreaterThanOrEqual(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x >= y


class LessThan(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x < y


class LessThanOrEqual(Task):
    def run(self, x: Any, y: Any) -> Any:
        return x <= y


class Not(Task):
    def run(self, x: Any) -> bool:
        return not x


class GetItem(Task):
    def run(self, task_result: Any, key: Any) -> Any:
        return task_result[key]
