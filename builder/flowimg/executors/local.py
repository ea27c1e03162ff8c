"""The default executor: every submitted call runs at once, in this thread."""
from __future__ import annotations

from typing import Any, Callable, Optional

from .base import Executor


class LocalExecutor(Executor):
    """`submit` returns the call's value, so `wait` has nothing left to resolve."""

    def submit(self, fn: Callable, *args: Any, extra_context: Optional[dict] = None, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def wait(self, futures: Any) -> Any:
        return futures
