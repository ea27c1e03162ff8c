"""Task and flow run states, with Prefect 1's class tree so `isinstance` checks and predicates agree."""
from __future__ import annotations


from .results import Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional


class _NoResult:
    """A state that never produced a value (different from a value of None)."""

    def __repr__(self) -> str:
        return "NoResult"

    def __bool__(self) -> bool:
        return False


NoResult = _NoResult()


class State:
    """What happened to a task or flow run: a message, a result, and the class says the rest."""

    color = "#000000"

    def __init__(self, message: Optional[str] = None, result: Any = NoResult,
                 context: Optional[Dict[str, Any]] = None, cached_inputs: Optional[Dict[str, Any]] = None) -> None:
        self.message = message
        self._result = result
        self.context = dict(context or {})
        self.cached_inputs = dict(cached_inputs or {})

    @property
    def _result(self) -> Any:
        """The Result object (value, location) behind `.result`, or NoResult, as in Prefect 1."""
        return self.__dict__["_stored_result"]

    @_result.setter
    def _result(self, value: Any) -> None:
        self.__dict__["_stored_result"] = value if value is NoResult or isinstance(value, Result) \
            else Result(value=value)

    @property
    def result(self) -> Any:
        stored = self._result
        return None if stored is NoResult else stored.value

    @result.setter
    def result(self, value: Any) -> None:
        self._result = value

    def __repr__(self) -> str:
        if self.message:
            return f'<{type(self).__name__}: "{self.message}">'
        return f"<{type(self).__name__}>"

    def is_pending(self) -> bool:
        return isinstance(self, Pending)

    def is_scheduled(self) -> bool:
        return isinstance(self, Scheduled)

    def is_retrying(self) -> bool:
        return isinstance(self, Retrying)

    def is_submitted(self) -> bool:
        return isinstance(self, Submitted)

    def is_queued(self) -> bool:
        return isinstance(self, Queued)

    def is_paused(self) -> bool:
        return isinstance(self, Paused)

    def is_running(self) -> bool:
        return isinstance(self, Running)

    def is_cancelling(self) -> bool:
        return isinstance(self, Cancelling)

    def is_finished(self) -> bool:
        return isinstance(self, Finished)

    def is_successful(self) -> bool:
        return isinstance(self, Success)

    def is_failed(self) -> bool:
        return isinstance(self, Failed)

    def is_skipped(self) -> bool:
        return isinstance(self, Skipped)

    def is_mapped(self) -> bool:
        return isinstance(self, Mapped)

    def is_cached(self) -> bool:
        return isinstance(self, Cached)

    def is_looped(self) -> bool:
        return isinstance(self, Looped)

    def is_meta_state(self) -> bool:
        return isinstance(self, _MetaState)

    @staticmethod
    def parents() -> List[type]:
        return []

    def load_result(self, result: Any = None) -> "State":
        return self

    def load_cached_results(self, results: Any = None) -> "State":
        return self


class Pending(State):
    color = "#d3d3d3"


class Paused(Pending):
    def __init__(self, message: Optional[str] = None, result: Any = NoResult, start_time: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(message, result, **kwargs)
        self.start_time = start_time


class Scheduled(Pending):
    color = "#ffab00"

    def __init__(self, message: Optional[str] = None, result: Any = NoResult, start_time: Any = None,
                 context: Optional[Dict[str, Any]] = None, cached_inputs: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message, result, context, cached_inputs)
        self.start_time = start_time


class Resume(Scheduled):
    pass


class Retrying(Scheduled):
    color = "#ffcc00"

    def __init__(self, message: Optional[str] = None, result: Any = NoResult, start_time: Any = None,
                 context: Optional[Dict[str, Any]] = None, cached_inputs: Optional[Dict[str, Any]] = None,
                 run_count: Optional[int] = None) -> None:
        super().__init__(message, result, start_time, context, cached_inputs)
        self.run_count = run_count if run_count is not None else self.context.get("task_run_count", 1)


class _MetaState(State):
    """Submitted and Queued wrap another state in Prefect; kept for isinstance checks."""

    def __init__(self, message: Optional[str] = None, result: Any = NoResult, state: Optional[State] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, result, **kwargs)
        self.state = state


class Submitted(_MetaState):
    pass


class Queued(_MetaState):
    def __init__(self, message: Optional[str] = None, result: Any = NoResult, state: Optional[State] = None,
                 start_time: Any = None, **kwargs: Any) -> None:
        super().__init__(message, result, state, **kwargs)
        self.start_time = start_time


class ClientFailed(_MetaState):
    pass


class Running(State):
    color = "#00ff00"


class Cancelling(Running):
    pass


class Finished(State):
    color = "#ba68c8"


class Success(Finished):
    color = "#28a745"


class Cached(Success):
    color = "#0c6d21"

    def __init__(self, message: Optional[str] = None, result: Any = NoResult,
                 context: Optional[Dict[str, Any]] = None, cached_inputs: Optional[Dict[str, Any]] = None,
                 cached_parameters: Optional[Dict[str, Any]] = None, cached_result_expiration: Any = None) -> None:
        super().__init__(message, result, context, cached_inputs)
        self.cached_parameters = cached_parameters
        self.cached_result_expiration = cached_result_expiration


class Mapped(Success):
    """A mapped task's parent state: one child state per element, in `map_states`."""

    color = "#97cbff"

    def __init__(self, message: Optional[str] = None, result: Any = NoResult,
                 context: Optional[Dict[str, Any]] = None, cached_inputs: Optional[Dict[str, Any]] = None,
                 map_states: Optional[List[State]] = None, n_map_states: Optional[int] = None) -> None:
        super().__init__(message, result, context, cached_inputs)
        self.map_states: List[Any] = list(map_states or [])
        self._n_map_states = n_map_states

    @property
    def n_map_states(self) -> int:
        return self._n_map_states if self._n_map_states is not None else len(self.map_states)

    @n_map_states.setter
    def n_map_states(self, value: int) -> None:
        self._n_map_states = value


class Skipped(Success):
    color = "#62757f"


class Looped(Finished):
    color = "#f3cd7b"

    def __init__(self, message: Optional[str] = None, result: Any = NoResult,
                 context: Optional[Dict[str, Any]] = None, cached_inputs: Optional[Dict[str, Any]] = None,
                 loop_count: Optional[int] = None) -> None:
        super().__init__(message, result, context, cached_inputs)
        self.loop_count = loop_count


class Failed(Finished):
    color = "#eb0000"


class TriggerFailed(Failed):
    color = "#c42800"


class ValidationFailed(Failed):
    color = "#b64d40"


class TimedOut(Failed):
    color = "#ff9000"


class Cancelled(Finished):
    color = "#bdbdbd"


def through_handlers(owner: Any, runner: Any, old: State, new: State) -> State:
    """`new` after the owner's (task's or flow's) state handlers, then the runner's; a handler
    returning None keeps the state it was given."""
    for handler in owner.state_handlers:
        new = handler(owner, old, new) or new
    for handler in runner.state_handlers:
        new = handler(runner, old, new) or new
    return new
