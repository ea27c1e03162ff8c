"""Triggers: given the upstream states, may this task run? (False or TRIGGERFAIL: TriggerFailed.)"""
from __future__ import annotations


from .engine import signals
from .engine.state import Mapped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Union

__all__ = ["all_successful", "all_failed", "all_finished", "always_run", "any_successful", "any_failed",
           "some_successful", "some_failed", "not_all_skipped", "manual_only"]


def _states(upstream_states: Dict[Any, Any]) -> list:
    """Every upstream state, a mapped upstream counting once per child."""
    found = []
    for state in upstream_states.values():
        if isinstance(state, Mapped):
            found.extend(state.map_states)
        else:
            found.append(state)
    return found


def all_finished(upstream_states: Dict[Any, Any]) -> bool:
    if not all(s.is_finished() for s in _states(upstream_states)):
        raise signals.TRIGGERFAIL('Trigger was "all_finished" but some of the upstream tasks were not finished.')
    return True


always_run = all_finished


def manual_only(upstream_states: Dict[Any, Any]) -> bool:
    """Refused when a task is made with it: flowimg has no backend for a person to approve a run."""
    raise signals.TRIGGERFAIL('Trigger "manual_only" needs a backend to resume the run; flowimg has none.')


def all_successful(upstream_states: Dict[Any, Any]) -> bool:
    if not all(s.is_successful() for s in _states(upstream_states)):
        raise signals.TRIGGERFAIL('Trigger was "all_successful" but some of the upstream tasks failed.')
    return True


def all_failed(upstream_states: Dict[Any, Any]) -> bool:
    if not all(s.is_failed() for s in _states(upstream_states)):
        raise signals.TRIGGERFAIL('Trigger was "all_failed" but some of the upstream tasks succeeded.')
    return True


def any_successful(upstream_states: Dict[Any, Any]) -> bool:
    if upstream_states and not any(s.is_successful() for s in _states(upstream_states)):
        raise signals.TRIGGERFAIL('Trigger was "any_successful" but none of the upstream tasks succeeded.')
    return True


def any_failed(upstream_states: Dict[Any, Any]) -> bool:
    if upstream_states and not any(s.is_failed() for s in _states(upstream_states)):
        raise signals.TRIGGERFAIL('Trigger was "any_failed" but none of the upstream tasks failed.')
    return True


def _bounds(total: int, at_least: Optional[Union[int, float]], at_most: Optional[Union[int, float]]) -> tuple:
    low = 0 if at_least is None else (total * at_least if at_least < 1 else at_least)
    high = total if at_most is None else (total * at_most if at_most < 1 else at_most)
    return low, high


def _some(kind: str, check: str, at_least: Any, at_most: Any) -> Callable[[Dict[Any, Any]], bool]:
    def trigger(upstream_states: Dict[Any, Any]) -> bool:
        if not upstream_states:
            return True
        states = _states(upstream_states)
        count = sum(1 for s in states if getattr(s, check)())
        low, high = _bounds(len(states), at_least, at_most)
        if not low <= count <= high:
            raise signals.TRIGGERFAIL(f'Trigger was "{kind}" but thresholds were not met.')
        return True

    trigger.__name__ = kind
    return trigger


def some_failed(at_least: Optional[Union[int, float]] = None,
                at_most: Optional[Union[int, float]] = None) -> Callable[[Dict[Any, Any]], bool]:
    return _some("some_failed", "is_failed", at_least, at_most)


def some_successful(at_least: Optional[Union[int, float]] = None,
                    at_most: Optional[Union[int, float]] = None) -> Callable[[Dict[Any, Any]], bool]:
    return _some("some_successful", "is_successful", at_least, at_most)


def not_all_skipped(upstream_states: Dict[Any, Any]) -> bool:
    states = _states(upstream_states)
    if all(s.is_skipped() for s in states):
        raise signals.SKIP("All upstreams were skipped", result=None)
    if not all(s.is_successful() for s in states):
        raise signals.TRIGGERFAIL('Trigger was "not_all_skipped" but some of the upstream tasks failed.')
    return True


def __getattr__(name: str) -> Any:
    raise AttributeError(f"flowimg.triggers has no trigger '{name}'; use one of: {', '.join(__all__)}")
