"""One task run: upstream checks, trigger, cache, the call itself, retries, loops, state handlers.

`run_task` is what the flow runner submits to an executor: a module-level function taking only
picklable arguments (the task, states, a plain context dict), so it runs the same in a worker
thread, another process or on a Dask worker.
"""
from __future__ import annotations

import datetime
import threading
from contextlib import nullcontext, redirect_stdout
from typing import Any, Callable, Dict, Iterable, List, Optional, cast

from ..utilities.context import context as flowimg_context
from ..utilities.logging import RedirectToLog, get_logger
from . import signals
from .state import (Cached, Failed, Looped, Mapped, NoResult, Pending, Retrying, Running, Scheduled, Skipped,
                    State, Success, TimedOut, TriggerFailed, through_handlers)

#: Cached states by cache key, shared by every run in this process (Prefect's `context.caches`).
CACHES: Dict[str, List[State]] = {}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _all_upstream(upstream_states: Dict[Any, State]) -> List[State]:
    found: List[State] = []
    for edge, state in upstream_states.items():
        if isinstance(state, Mapped) and not edge.mapped:
            found.extend(state.map_states)
        else:
            found.append(state)
    return found


class TaskRunner:
    """Takes a task from its current state to the next one it can reach now."""

    def __init__(self, task: Any, state_handlers: Optional[Iterable[Callable]] = None, flow_result: Any = None) -> None:
        self.task = task
        self.state_handlers = list(state_handlers or [])
        self.logger = get_logger("TaskRunner")

    def _change(self, old: State, new: State) -> State:
        """Every state change goes through the task's, then the runner's, state handlers."""
        if new is old:
            return new
        try:
            new = through_handlers(self.task, self, old, new)
        except (signals.PAUSE, signals.ENDRUN):
            raise
        except signals.PrefectStateSignal as exc:
            return exc.state
        except Exception as exc:
            if flowimg_context.get("raise_on_exception"):
                raise
            message = f"Unexpected error while calling state handlers: {exc!r}"
            self.logger.exception(message)
            raise signals.ENDRUN(Failed(message, result=exc)) from exc
        return new

    def run(self, state: Optional[State] = None, upstream_states: Optional[Dict[Any, State]] = None,
            context: Optional[Dict[str, Any]] = None, is_mapped_parent: bool = False) -> State:
        upstream_states = upstream_states or {}
        ctx = dict(context or {})
        state = state if state is not None else Pending()
        if isinstance(state, Retrying):
            ctx["task_run_count"] = state.run_count + 1
        else:
            ctx.setdefault("task_run_count", state.context.get("task_run_count", 1))
        if "_loop_count" in state.context:
            ctx["task_loop_count"] = state.context["_loop_count"]
            ctx["task_loop_result"] = state.result
        map_index = ctx.get("map_index")
        full_name = ctx.get("task_full_name") or (
            f"{self.task.name}[{map_index}]" if isinstance(map_index, int) else self.task.name)
        ctx.update(task_name=self.task.name, task_tags=self.task.tags, task_full_name=full_name,
                   logger=get_logger(full_name) if isinstance(map_index, int) else self.task.logger)
        with flowimg_context(ctx):
            if flowimg_context.get("task_loop_count") is None:
                self.logger.info(f"Task '{full_name}': Starting task run...")
            while True:
                try:
                    state = self._run_once(state, upstream_states, is_mapped_parent)
                except signals.ENDRUN as exc:
                    state = exc.state
                if not isinstance(state, Looped):
                    break
                flowimg_context.update(task_loop_result=state.result, task_loop_count=(state.loop_count or 1) + 1)
                state = Pending(f"Looping task (on loop index {state.loop_count})")
            if flowimg_context.get("task_loop_count") is None:
                self.logger.info(
                    f"Task '{full_name}': Finished task run for task with final state: '{type(state).__name__}'")
        return state

    def _run_once(self, state: State, upstream_states: Dict[Any, State], is_mapped_parent: bool) -> State:
        task = self.task
        name = flowimg_context.get("task_full_name", task.name)
        if state.is_finished() and not state.is_looped():
            raise signals.ENDRUN(state)
        if isinstance(state, Scheduled) and state.start_time is not None and state.start_time > _now():
            raise signals.ENDRUN(state)
        every = _all_upstream(upstream_states)
        if not all(s.is_finished() for s in every):
            raise signals.ENDRUN(state)
        if task.skip_on_upstream_skip and any(s.is_skipped() for s in every):
            raise signals.ENDRUN(self._change(state, Skipped(
                "Upstream task was skipped; if this was not the intended behavior, consider changing "
                "`skip_on_upstream_skip=False` for this task.")))
        inputs = {edge.key: up.result for edge, up in upstream_states.items() if edge.key is not None}
        if is_mapped_parent:
            raise signals.ENDRUN(self._change(state, _ready_to_map(upstream_states)))
        self._name_run(inputs)
        state = self._check_target(state, inputs) if task.target else self._check_cache(state, inputs)
        if state.is_cached():
            raise signals.ENDRUN(state)
        try:
            if not task.trigger(upstream_states):
                raise signals.TRIGGERFAIL("Trigger failed")
        except signals.PrefectStateSignal as exc:
            raise signals.ENDRUN(self._change(state, exc.state)) from exc
        except Exception as exc:
            self.logger.exception(f"Task '{name}': Unexpected error while evaluating task trigger: {exc!r}")
            raise signals.ENDRUN(self._change(state, TriggerFailed(
                f"Unexpected error while checking task trigger: {exc!r}", result=exc))) from exc
        state = self._change(state, Running("Starting task run."))
        new = self.get_task_run_state(inputs)
        new = self._change(state, new)
        new = self._cache(new, inputs)
        self._checkpoint(new, inputs)
        return self._retry(new)

    def _name_run(self, inputs: Dict[str, Any]) -> None:
        template = self.task.task_run_name
        if template is None:
            return
        fields = {**(flowimg_context.get("parameters") or {}), **flowimg_context.to_dict(), **inputs}
        try:
            flowimg_context["task_run_name"] = template(**fields) if callable(template) else template.format(**fields)
        except (KeyError, IndexError, TypeError, ValueError):
            pass

    def get_task_run_state(self, inputs: Dict[str, Any]) -> State:
        task = self.task
        name = flowimg_context.get("task_full_name", task.name)
        # Prefect sent printed lines to the task runner's logger, not the task's.
        redirect = redirect_stdout(cast(Any, RedirectToLog(self.logger))) if task.log_stdout else nullcontext()
        try:
            with redirect:
                value = run_task_with_timeout(task, inputs)
        except signals.TaskTimeoutSignal as exc:
            return TimedOut("Task timed out during execution.", result=exc)
        except signals.LOOP as exc:
            looped = cast(Looped, exc.state)
            looped.loop_count = flowimg_context.get("task_loop_count") or 1
            looped.message = looped.message or f"Task is looping ({looped.loop_count})"
            return looped
        except signals.PAUSE:
            return Failed("PAUSE needs a person to resume the run through a backend flowimg does not have; "
                          "split the flow in two instead")
        except signals.PrefectStateSignal as exc:
            self.logger.info(f"{type(exc).__name__} signal raised: {exc!r}")
            return exc.state
        except signals.ENDRUN:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            if flowimg_context.get("raise_on_exception"):
                raise
            self.logger.error(f"Task '{name}': Exception encountered during task execution!", exc_info=True)
            return Failed(f"Error during execution of task: {exc!r}", result=exc)
        result = self.task.result
        if result is not None and hasattr(result, "from_value"):
            return Success("Task run succeeded.", result=result.from_value(value))
        return Success("Task run succeeded.", result=value)

    def _target_fields(self, inputs: Dict[str, Any]) -> Dict[str, Any]:
        fields = {**(flowimg_context.get("parameters") or {}), **flowimg_context.to_dict(), **inputs}
        fields.pop("self", None)
        return fields

    def _check_target(self, state: State, inputs: Dict[str, Any]) -> State:
        result, target = self.task.result, self.task.target
        if result is None or not hasattr(result, "exists"):
            return state
        fields = self._target_fields(inputs)
        location = target(**fields) if callable(target) else target.format(**fields)
        if not result.exists(location):
            return state
        stored = result.read(location)
        return self._change(state, Cached(message=f"Result found at task target {location}", result=stored,
                                          cached_inputs=inputs, cached_parameters=fields.get("parameters")))

    def _checkpoint(self, state: State, inputs: Dict[str, Any]) -> None:
        result = self.task.result
        if result is None or not state.is_successful() or state.is_skipped() or self.task.checkpoint is False:
            return
        from .results import checkpointing

        if not checkpointing() or not hasattr(result, "write"):
            return
        fields = self._target_fields(inputs)
        target = self.task.target
        if target is not None:
            result = result.copy()
            result.location = target(**fields) if callable(target) else target
        state._result = result.write(state.result, **fields)

    def _check_cache(self, state: State, inputs: Dict[str, Any]) -> State:
        task = self.task
        if task.cache_for is None:
            return state
        params = flowimg_context.get("parameters")
        for candidate in CACHES.get(task.cache_key or task.name, []):
            if task.cache_validator(candidate, inputs, params):
                return self._change(state, candidate)
        name = flowimg_context.get("task_full_name", task.name)
        self.logger.warning(f"Task '{name}': Can't use cache because it is now invalid")
        return state

    def _cache(self, state: State, inputs: Dict[str, Any]) -> State:
        task = self.task
        if task.cache_for is None or not state.is_successful() or state.is_skipped() or state.is_mapped():
            return state
        cached = Cached(message=state.message, result=state._result, cached_inputs=inputs,
                        cached_parameters=flowimg_context.get("parameters"),
                        cached_result_expiration=_now() + task.cache_for)
        return self._change(state, cached)

    def _retry(self, state: State) -> State:
        task = self.task
        if not state.is_failed() or isinstance(state, TriggerFailed):
            return state
        if task.retry_on and not any(isinstance(state.result, kind) for kind in task.retry_on):
            return state
        run_count = flowimg_context.get("task_run_count", 1)
        if run_count > task.max_retries:
            return state
        retry = Retrying(f"Retrying Task (after attempt {run_count} of {task.max_retries + 1})",
                         start_time=_now() + task.retry_delay, run_count=run_count)
        return self._change(state, retry)


def _ready_to_map(upstream_states: Dict[Any, State]) -> State:
    """The parent of a mapped task: how many children, or why there can be none."""
    if upstream_states and not any(e.mapped and s.is_successful() for e, s in upstream_states.items()):
        return Failed("No upstream states can be mapped over.")
    for edge, state in upstream_states.items():
        if edge.mapped and state.is_successful() and not state.is_mapped() and not hasattr(state.result, "__getitem__"):
            return Failed(f"At least one upstream state has an unmappable result: argument '{edge.key}' "
                          f"is a {type(state.result).__name__}, not a list; map over a list, tuple or string")
    sizes = [len(s.result) for e, s in upstream_states.items() if e.mapped and s.is_successful() and not s.is_mapped()]
    sizes += [cast(Mapped, s).n_map_states for e, s in upstream_states.items() if e.mapped and s.is_mapped()]
    return Mapped("Ready to proceed with mapping.", n_map_states=min(sizes, default=0))


def run_task_with_timeout(task: Any, inputs: Dict[str, Any]) -> Any:
    if not task.timeout:
        return task.run(**inputs)
    outcome: Dict[str, Any] = {}
    ctx = flowimg_context.to_dict()

    def target() -> None:
        with flowimg_context(ctx):
            try:
                outcome["value"] = task.run(**inputs)
            except BaseException as exc:  # re-raised in the calling thread
                outcome["error"] = exc

    worker = threading.Thread(target=target, name=f"flowimg-timeout-{task.name}", daemon=True)
    worker.start()
    worker.join(task.timeout)
    if worker.is_alive():
        raise signals.TaskTimeoutSignal(f"Execution timed out after {task.timeout} seconds.")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_task(task: Any, state: Optional[State], upstream_states: Dict[Any, State], context: Dict[str, Any],
             task_runner_cls: Optional[type] = None, upstream_mapped_states: Optional[Dict[Any, list]] = None,
             is_mapped_parent: bool = False) -> State:
    """What executors run: one task run, with upstream mapped children folded into their parents."""
    for edge, up in upstream_states.items():
        if not edge.mapped and isinstance(up, Mapped):
            children = (upstream_mapped_states or {}).get(edge, up.map_states)
            up.map_states = list(children)
            up.result = [s.result for s in up.map_states]
    runner = (task_runner_cls or TaskRunner)(task=task)
    return cast(State, runner.run(state=state, upstream_states=upstream_states, context=context,
                                  is_mapped_parent=is_mapped_parent))


__all__ = ["TaskRunner", "run_task", "CACHES", "NoResult"]
