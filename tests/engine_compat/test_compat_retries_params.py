"""Retries, timeouts and Parameters (docs/core/concepts/tasks.md "Retries"/"Timeouts",
concepts/states.md, concepts/parameters.md, tutorial/04-handling-failure.md)."""
import time
from datetime import timedelta

import pytest

import flowimg
from flowimg import Flow, Parameter, task
from flowimg.engine import state as st


def recorder(log):
    def handler(obj, old, new):
        log.append(type(new).__name__)
        return new

    return handler


def test_retries_pass_through_retrying_states_then_succeed():
    """concepts/tasks.md "Retries": a failing task with max_retries is Retrying between attempts;
    task_run_count counts the attempts."""
    log, counts = [], []

    @task(max_retries=2, retry_delay=timedelta(seconds=0), state_handlers=[recorder(log)])
    def flaky():
        counts.append(flowimg.context.get("task_run_count"))
        if len(counts) < 3:
            raise ValueError("again")
        return "done"

    with Flow("r") as flow:
        r = flaky()
    state = flow.run()
    assert state.result[r].result == "done"
    assert counts == [1, 2, 3]
    assert log == ["Running", "Failed", "Retrying", "Running", "Failed", "Retrying", "Running", "Success"]


def test_retries_exhausted_end_failed():
    """concepts/tasks.md "Retries": after max_retries failed retries the task is Failed."""
    calls = []

    @task(max_retries=1, retry_delay=timedelta(seconds=0))
    def always_bad():
        calls.append(1)
        raise ValueError("no")

    with Flow("r") as flow:
        r = always_bad()
    state = flow.run()
    assert type(state.result[r]) is st.Failed
    assert len(calls) == 2
    assert state.is_failed()


def test_retry_delay_is_waited_by_flow_run():
    """tutorial/04-handling-failure.md: flow.run() waits retry_delay before the retry."""
    times = []

    @task(max_retries=1, retry_delay=timedelta(seconds=1))
    def once_bad():
        times.append(time.monotonic())
        if len(times) == 1:
            raise ValueError("first")
        return len(times)

    with Flow("r") as flow:
        r = once_bad()
    assert flow.run().result[r].result == 2
    assert times[1] - times[0] >= 0.9


def test_max_retries_requires_retry_delay():
    """concepts/tasks.md: max_retries without retry_delay is refused with a ValueError."""
    with pytest.raises(ValueError):
        @task(max_retries=2)
        def bad():
            pass


def test_timeout_makes_the_task_timed_out():
    """concepts/tasks.md "Timeouts": a task running longer than timeout seconds is TimedOut (Failed)."""
    @task(timeout=1)
    def slow():
        time.sleep(3)

    with Flow("t") as flow:
        r = slow()
    t0 = time.monotonic()
    state = flow.run()
    assert isinstance(state.result[r], st.TimedOut)
    assert state.result[r].is_failed()
    assert state.is_failed()
    assert time.monotonic() - t0 < 2.9


@task
def show(x):
    return x


def test_parameter_default_and_override():
    """concepts/parameters.md: Parameter default is used unless flow.run(parameters=...) overrides it;
    keyword arguments to flow.run() are parameters too."""
    with Flow("p") as flow:
        x = Parameter("x", default=1)
        r = show(x)
    assert flow.run().result[r].result == 1
    assert flow.run(parameters={"x": 5}).result[r].result == 5
    assert flow.run(x=7).result[r].result == 7
    assert flow.run().result[x].result == 1


def test_missing_required_parameter_is_one_value_error():
    """concepts/parameters.md: a Parameter without default is required; running without it raises
    ValueError naming it."""
    with Flow("p") as flow:
        show(Parameter("needed"))
    with pytest.raises(ValueError, match="needed"):
        flow.run()


def test_parameter_with_default_none_is_not_required():
    """concepts/parameters.md: required=False with no default means the default None."""
    with Flow("p") as flow:
        x = Parameter("x", required=False)
        r = show(x)
    assert flow.run().result[r].result is None


def test_unknown_parameter_is_refused():
    """concepts/parameters.md: flow.run only accepts the flow's parameters."""
    with Flow("p") as flow:
        show(Parameter("x", default=1))
    with pytest.raises(ValueError, match="zzz"):
        flow.run(parameters={"zzz": 1})


def test_parameters_are_in_context():
    """concepts/execution.md context: context['parameters'] holds the run's parameter values
    (a Parameter used by no task joins the flow through add_task)."""
    @task
    def from_ctx():
        return dict(flowimg.context.get("parameters"))

    with Flow("p") as flow:
        flow.add_task(Parameter("a", default=1))
        r = from_ctx()
    assert flow.run(a=3).result[r].result == {"a": 3}


def test_duplicate_parameter_names_are_refused():
    """concepts/parameters.md: parameter names are unique within a flow."""
    with pytest.raises(ValueError):
        with Flow("p"):
            show(Parameter("x"))
            show(Parameter("x"))
