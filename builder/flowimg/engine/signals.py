"""Exceptions a task raises to choose its own state (`raise SKIP("no data")`)."""
from __future__ import annotations


from . import state as _state
from .state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


class PrefectSignal(BaseException):
    """Signals are BaseExceptions, so a task's `except Exception:` does not swallow them."""


class PrefectStateSignal(PrefectSignal):
    """Carries the state the raising task ends in; its result defaults to the signal itself."""

    _state_cls: type = _state.State

    def __init__(self, message: Optional[str] = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(message)
        kwargs.setdefault("result", self)
        self.state: State = self._state_cls(message, *args, **kwargs)


FlowimgStateSignal = PrefectStateSignal


class FAIL(PrefectStateSignal):
    _state_cls = _state.Failed


class TRIGGERFAIL(FAIL):
    _state_cls = _state.TriggerFailed


class VALIDATIONFAIL(FAIL):
    _state_cls = _state.ValidationFailed


class SUCCESS(PrefectStateSignal):
    _state_cls = _state.Success


class SKIP(PrefectStateSignal):
    _state_cls = _state.Skipped


class RETRY(PrefectStateSignal):
    _state_cls = _state.Retrying


class LOOP(PrefectStateSignal):
    """`raise LOOP(result=value)`: the task runs again with `context.task_loop_result == value`."""

    _state_cls = _state.Looped

    def __init__(self, message: Optional[str] = None, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("result", repr(self))
        super().__init__(message, *args, **kwargs)


class PAUSE(PrefectStateSignal):
    """Pausing needs a human to resume through a backend; flowimg runs have none."""

    _state_cls = _state.Paused


class ENDRUN(PrefectSignal):
    """Stops a run at once in the given state (no retries, no handlers beyond this point)."""

    def __init__(self, state: Any = None) -> None:
        super().__init__(state)
        self.state: State = state


def signal_from_state(state: Any) -> type:
    """The signal class that ends a task in `state`'s class."""
    found = {}
    todo = list(PrefectStateSignal.__subclasses__())
    while todo:
        sig = todo.pop()
        found[sig._state_cls.__name__] = sig
        todo.extend(sig.__subclasses__())
    try:
        return found[type(state).__name__]
    except KeyError:
        raise ValueError(f"No signal matches the provided state: {state}") from None


class TaskTimeoutSignal(Exception):
    """A task ran past its `timeout`."""
