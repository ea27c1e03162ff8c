"""`raise_on_exception()`: let a task's exception surface while debugging a flow run."""
from __future__ import annotations

from contextlib import contextmanager

from .context import context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator


@contextmanager
def raise_on_exception() -> Iterator[None]:
    with context(raise_on_exception=True):
        yield
