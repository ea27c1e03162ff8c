"""`flowimg.context`: per-thread run information (parameters, flow and task names, dates, logger).

A dict with attribute access. Each thread sees its own values; executors hand a task run its
context explicitly, so worker threads and processes see what the flow runner saw.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator


class Context(threading.local):
    """Dict-like, thread-local; `with context(key=value):` sets keys for a block."""

    def __init__(self) -> None:
        threading.local.__setattr__(self, "_data", {})

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"'Context' object has no attribute '{key}'") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delattr__(self, key: str) -> None:
        self._data.pop(key, None)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<Context: {', '.join(sorted(self._data))}>"

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        return self._data.setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        return self._data.pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._data.update(*args, **kwargs)

    def keys(self) -> Any:
        return self._data.keys()

    def values(self) -> Any:
        return self._data.values()

    def items(self) -> Any:
        return self._data.items()

    def clear(self) -> None:
        self._data.clear()

    def copy(self) -> Dict[str, Any]:
        return dict(self._data)

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._data)

    @contextmanager
    def __call__(self, *args: Any, **kwargs: Any) -> Iterator["Context"]:
        previous = dict(self._data)
        try:
            self._data.update(*args, **kwargs)
            yield self
        finally:
            self._data.clear()
            self._data.update(previous)


context = Context()
