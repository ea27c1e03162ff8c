"""The executor interface the flow runner talks to; Prefect 1's shape so user executors port over.

A flow runner only ever calls `start()` (a context manager around one flow run), `submit(...)`
and `wait(...)`. Futures may be real futures resolved only by `wait`, so the runner never reads
a submitted call's value any other way. As in Prefect (and as Dask does by itself), a future
returned by `submit` may be passed as an argument to a later `submit`, also nested in a dict
keyed by edges or in a list: the executor resolves it before calling the function.
"""
from __future__ import annotations

import abc
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Optional


class Executor(abc.ABC):
    """Runs submitted calls; subclasses decide where (this thread, a pool, a cluster)."""

    def __repr__(self) -> str:
        return f"<Executor: {type(self).__name__}>"

    @contextmanager
    def start(self) -> Iterator[None]:
        """Hold whatever the executor needs (pools, clients) for one flow run."""
        yield

    @abc.abstractmethod
    def submit(self, fn: Callable, *args: Any, extra_context: Optional[dict] = None, **kwargs: Any) -> Any:
        """Schedule `fn(*args, **kwargs)`; return a future (or the value itself).

        `extra_context` describes the call (task name, slug, map index) for naming and logs only;
        `fn` gets everything it needs through its arguments, which must pickle with cloudpickle.
        """

    @abc.abstractmethod
    def wait(self, futures: Any) -> Any:
        """Resolve futures, also those nested in lists, tuples and dicts, and return their values."""


def resolve_nested(value: Any, resolve_one: Callable[[Any], Any], is_future: Callable[[Any], bool]) -> Any:
    """Walk lists, tuples, sets and dicts, replacing each future by `resolve_one(future)`."""
    if is_future(value):
        return resolve_one(value)
    if isinstance(value, (list, tuple, set)):
        return type(value)(resolve_nested(v, resolve_one, is_future) for v in value)
    if isinstance(value, dict):
        return {k: resolve_nested(v, resolve_one, is_future) for k, v in value.items()}
    return value
