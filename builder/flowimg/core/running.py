"""`Flow.run()`: check the inputs, then run once (with retry passes) or on the flow's schedule."""
from __future__ import annotations

import datetime
import time

from ..utilities.context import context
from ..utilities.datetimes import as_datetime
from ..errors import FlowimgError
from .flow import Flow, FlowValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _parameters(flow: Flow) -> List[Any]:
    from .task import Parameter

    return [t for t in flow.ordered_tasks() if isinstance(t, Parameter)]


def check_parameters(flow: Flow, parameters: Dict[str, Any]) -> None:
    declared = _parameters(flow)
    known = [p.name for p in declared]
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise FlowValidationError(
            f"flow '{flow.name}' has no parameter {', '.join(unknown)}; "
            f"its parameters are: {', '.join(sorted(known)) or 'none'}"
        )
    missing = [p.name for p in declared if p.required and p.name not in parameters]
    if missing:
        raise FlowValidationError(
            f"flow '{flow.name}' needs parameter {', '.join(repr(m) for m in missing)}; pass "
            + " ".join(f"--param {m}=VALUE" for m in missing) + " (or flow.run(parameters={...}))"
        )


def _next_event(schedule: Any) -> Any:
    """(start time, parameter defaults) of the schedule's next run, or None when it has no more."""
    try:
        events = schedule.next(1, return_events=True)
    except TypeError:
        events = schedule.next(1)
    if not events:
        return None
    event = events[0]
    return getattr(event, "start_time", event), dict(getattr(event, "parameter_defaults", None) or {})


def _sleep_until(when: Any) -> None:
    if when is None:
        return
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    pause = (when - _now()).total_seconds()
    if pause > 0:
        time.sleep(pause)


def _remember_caches(state: Any) -> None:
    from ..engine.task_runner import CACHES

    results = state.result if isinstance(state.result, dict) else {}
    now = _now()
    for task, task_state in results.items():
        cached = [task_state] if task_state.is_cached() else [
            s for s in getattr(task_state, "map_states", []) if s is not None and s.is_cached()]
        key = task.cache_key or task.name
        fresh = [s for s in CACHES.get(key, []) + cached
                 if s.cached_result_expiration and s.cached_result_expiration > now]
        if fresh or key in CACHES:
            CACHES[key] = fresh


def run_once(flow: Flow, parameters: Dict[str, Any], runner_cls: Optional[type], kwargs: Dict[str, Any]) -> Any:
    """One flow run: passes repeat while tasks wait to be retried."""
    from ..engine.flow_runner import FlowRunner
    from ..engine.state import Scheduled

    runner_cls = runner_cls or FlowRunner
    state = kwargs.pop("state", None) or Scheduled(start_time=_now(), result={})
    task_states = dict(kwargs.pop("task_states", None) or {})
    run_context = dict(kwargs.pop("context", None) or {})
    task_contexts = kwargs.pop("task_contexts", None)
    executor = kwargs.pop("executor", None)
    if kwargs:
        raise FlowimgError(f"flow.run() got unexpected arguments {', '.join(sorted(kwargs))}; "
                           f"pass flow parameters as parameters={{...}}")
    while True:
        state = runner_cls(flow=flow).run(state=state, task_states=task_states, parameters=parameters,
                                          executor=executor, context=run_context, task_contexts=task_contexts)
        if state.is_finished() or not isinstance(state.result, dict):
            break
        task_states = state.result
        waiting = [s.start_time for s in _all_states(task_states) if s.is_scheduled() and s.start_time is not None]
        earliest = min(waiting, default=None)
        if earliest is None:
            # Nothing waits for a retry, so another pass could not change anything.
            from ..engine.state import Failed

            return _give_up(flow, state, Failed)
        if earliest is not None and earliest > _now():
            flow.logger.info(f"Waiting for next available Task run at {earliest}")
        _sleep_until(earliest)
    _remember_caches(state)
    return state


def _give_up(flow: Flow, state: Any, failed: type) -> Any:
    stuck = [flow.slugs[t] for t, s in state.result.items() if not s.is_finished()]
    flow.logger.error(f"Flow run FAILED: tasks cannot finish: {', '.join(stuck)}")
    return failed(f"Tasks could not finish: {', '.join(stuck)}", result=state.result)


def _all_states(task_states: Dict[Any, Any]) -> List[Any]:
    out = list(task_states.values())
    for s in list(out):
        if s.is_mapped():
            out.extend(x for x in s.map_states if x is not None)
    return out


def _every_task_has_a_state(flow: Flow, state: Any) -> Any:
    from ..engine.state import Pending

    if isinstance(state.result, BaseException):
        flow.logger.error(f"Unexpected error occured in FlowRunner: {state.result!r}")
        return state
    if not isinstance(state.result, dict):
        state.result = {}
    for task in flow.ordered_tasks():
        if task not in state.result:
            state.result[task] = Pending("Task not run.")
    return state


def run_flow(flow: Flow, parameters: Optional[Dict[str, Any]], run_on_schedule: Optional[bool],
             runner_cls: Optional[type], kwargs: Dict[str, Any]) -> Any:
    parameters = dict(parameters or {})
    for p in flow.parameters():
        if p.name in kwargs:
            parameters[p.name] = kwargs.pop(p.name)
    if "return_tasks" in kwargs:
        raise FlowimgError("flow.run() does not take return_tasks; every task's state is in state.result")
    check_parameters(flow, parameters)
    try:
        flow.validate()
    except FlowValidationError as exc:
        from ..engine.state import Failed

        flow.logger.error(f"Flow run FAILED: {exc}")
        return Failed(str(exc), result={})
    context.setdefault("caches", {})
    if run_on_schedule is None:
        run_on_schedule = True
    if not run_on_schedule or flow.schedule is None:
        return _every_task_has_a_state(flow, run_once(flow, parameters, runner_cls, kwargs))
    state = None
    while True:
        event = _next_event(flow.schedule)
        if event is None:
            if state is None:
                raise FlowValidationError(f"flow '{flow.name}' has a schedule with no more runs; "
                                   "run it with run_on_schedule=False")
            return state
        start, defaults = event
        start = as_datetime(start)
        if start.tzinfo is not None and start > _now():
            flow.logger.info(f"Waiting for next scheduled run at {start}")
        _sleep_until(start)
        run_kwargs = dict(kwargs)
        run_kwargs["context"] = dict(run_kwargs.get("context") or {}, scheduled_start_time=start)
        state = _every_task_has_a_state(flow, run_once(flow, {**defaults, **parameters}, runner_cls, run_kwargs))


def failure_summary(flow: Flow, state: Any) -> str:
    """One line naming the tasks that failed and why (TriggerFailed ones only by slug)."""
    failed, not_run = [], []
    results = state.result if isinstance(state.result, dict) else {}
    for task in flow.ordered_tasks():
        task_state = results.get(task)
        if task_state is None:
            continue
        children = task_state.map_states if task_state.is_mapped() else [task_state]
        for index, child in enumerate(children):
            if child is None or not child.is_failed():
                continue
            slug = flow.slugs[task] + (f"[{index}]" if task_state.is_mapped() else "")
            from ..engine.state import TriggerFailed

            if isinstance(child, TriggerFailed):
                not_run.append(f"'{slug}'")
            else:
                failed.append(f"task '{slug}': {child.message}")
    if not failed and not not_run and (state.message or "").startswith(f"flow '{flow.name}' "):
        return str(state.message)
    words = "; ".join(failed) or (state.message or "failed")
    if not_run:
        words += f"; not run because an upstream task failed: {', '.join(not_run)}"
    return f"flow '{flow.name}' failed: {words}"
