"""The default executor: every submitted call runs at once, in this thread."""
from __future__ import annotations


from .base import Executor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional


class LocalExecutor(Executor):
    """`submit` returns the call's value, so `wait` has nothing left to resolve."""

    def submit(self, fn: Callable, *args: Any, extra_context: Optional[dict] = None, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def wait(self, futures: Any) -> Any:
        return futures
