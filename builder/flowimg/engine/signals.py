"""Exceptions a task raises to choose its own state (`raise SKIP("no data")`)."""
from __future__ import annotations

from typing import Any, Optional

from . import state as _state


class PrefectStateSignal(Exception):
    """Carries the state the raising task ends in; its result defaults to the signal itself."""

    _state_cls: type = _state.State

    def __init__(self, message: Optional[str] = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(message)
        kwargs.setdefault("result", self)
        self.state = self._state_cls(message, *args, **kwargs)


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


class PAUSE(PrefectStateSignal):
    """Pausing needs a human to resume through a backend; flowimg runs have none."""

    _state_cls = _state.Paused


class ENDRUN(Exception):
    """Stops a run at once in the given state (no retries, no handlers beyond this point)."""

    def __init__(self, state: Any = None) -> None:
        super().__init__(state)
        self.state = state


class TaskTimeoutSignal(Exception):
    """A task ran past its `timeout`."""
