"""When may a task reuse a cached result? (`cache_validator=` on a task with `cache_for=`.)"""
from __future__ import annotations

import datetime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


def _fresh(state: Any) -> bool:
    expiration = getattr(state, "cached_result_expiration", None)
    return expiration is not None and expiration > datetime.datetime.now(datetime.timezone.utc)


def never_use(state: Any, inputs: Optional[Dict[str, Any]], parameters: Optional[Dict[str, Any]]) -> bool:
    return False


def duration_only(state: Any, inputs: Optional[Dict[str, Any]], parameters: Optional[Dict[str, Any]]) -> bool:
    return _fresh(state)


def all_inputs(state: Any, inputs: Optional[Dict[str, Any]], parameters: Optional[Dict[str, Any]]) -> bool:
    return _fresh(state) and state.cached_inputs == (inputs or {})


def all_parameters(state: Any, inputs: Optional[Dict[str, Any]], parameters: Optional[Dict[str, Any]]) -> bool:
    return _fresh(state) and (state.cached_parameters or {}) == (parameters or {})


def partial_parameters_only(validate_on: Any = None) -> Any:
    def validator(state: Any, inputs: Any, parameters: Any) -> bool:
        if not _fresh(state):
            return False
        keys = validate_on if validate_on is not None else list((parameters or {}).keys())
        cached = state.cached_parameters or {}
        return all(cached.get(k) == (parameters or {}).get(k) for k in keys)

    return validator


def partial_inputs_only(validate_on: Any = None) -> Any:
    def validator(state: Any, inputs: Any, parameters: Any) -> bool:
        if not _fresh(state):
            return False
        keys = validate_on if validate_on is not None else list((inputs or {}).keys())
        return all(state.cached_inputs.get(k) == (inputs or {}).get(k) for k in keys)

    return validator
