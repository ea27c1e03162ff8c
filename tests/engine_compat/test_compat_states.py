"""Flow and task state facts (docs/core/concepts/states.md, concepts/flows.md, concepts/execution.md)."""
from flowimg import Flow, task
from flowimg.engine import state as st


@task
def ok():
    return 1


@task
def boom():
    raise ValueError("bad input")


@task
def after(x=None):
    return "after"


def test_successful_flow_state_and_message():
    """concepts/flows.md: a flow whose reference tasks all succeed is Success, 'All reference tasks
    succeeded.'; flow.run() returns that State with .result mapping task -> state."""
    with Flow("s") as flow:
        a = ok()
    state = flow.run()
    assert isinstance(state, st.Success)
    assert state.is_successful() and not state.is_failed() and state.is_finished()
    assert state.message == "All reference tasks succeeded."
    assert state.result[a].result == 1
    assert state.result[a].message == "Task run succeeded."


def test_failing_task_is_failed_with_the_error_as_result():
    """concepts/states.md: an exception makes the task Failed; its result is the exception and the
    message names it."""
    with Flow("s") as flow:
        b = boom()
    state = flow.run()
    assert isinstance(state, st.Failed)
    assert state.message == "Some reference tasks failed."
    tstate = state.result[b]
    assert type(tstate) is st.Failed
    assert isinstance(tstate.result, ValueError)
    assert "bad input" in tstate.message
    assert tstate.message.startswith("Error during execution of task")


def test_downstream_of_failure_is_trigger_failed_and_other_branch_runs():
    """concepts/execution.md triggers: the default all_successful trigger fails a downstream task
    with TriggerFailed; independent branches still run."""
    with Flow("s") as flow:
        b = boom()
        c = after(b)
        d = ok()
    state = flow.run()
    assert isinstance(state.result[c], st.TriggerFailed)
    assert state.result[c].is_failed()
    assert state.result[d].result == 1
    assert state.is_failed()


def test_reference_tasks_decide_the_flow_state():
    """concepts/flows.md "Reference tasks": with set_reference_tasks only those tasks decide the
    flow's state, so a failure elsewhere does not fail the flow."""
    with Flow("s") as flow:
        boom()
        good = ok()
    flow.set_reference_tasks([good])
    state = flow.run()
    assert state.is_successful()
    assert flow.reference_tasks() == {good}


def test_default_reference_tasks_are_the_terminal_tasks():
    """concepts/flows.md: by default the terminal tasks are the reference tasks; a failed
    non-terminal task whose downstream ran on an always_run trigger does not fail the flow."""
    from flowimg.triggers import always_run

    @task(trigger=always_run)
    def cleanup():
        return "clean"

    with Flow("s") as flow:
        b = boom()
        c = cleanup(upstream_tasks=[b])
    assert flow.terminal_tasks() == {c}
    state = flow.run()
    assert state.result[b].is_failed()
    assert state.result[c].result == "clean"
    assert state.is_successful()


def test_state_type_hierarchy():
    """concepts/states.md: TriggerFailed and TimedOut are Failed; Skipped, Cached and Mapped are
    Success; Retrying is Pending; Looped is Finished."""
    assert issubclass(st.TriggerFailed, st.Failed)
    assert issubclass(st.TimedOut, st.Failed)
    assert issubclass(st.Skipped, st.Success)
    assert issubclass(st.Cached, st.Success)
    assert issubclass(st.Mapped, st.Success)
    assert issubclass(st.Retrying, st.Pending)
    assert issubclass(st.Looped, st.Finished)
    assert st.Pending().is_pending() and st.Running().is_running()
    assert st.Failed().is_failed() and st.Skipped().is_skipped()


def test_state_with_message_and_result():
    """concepts/states.md: states carry a message and a result."""
    s = st.Success(message="done", result=42)
    assert s.message == "done" and s.result == 42
    assert s.is_successful()


def test_return_tasks_limits_the_result_dict():
    """concepts/flows.md: by default flow.run() returns the state of every task."""
    with Flow("s") as flow:
        a = ok()
        b = after(a)
    state = flow.run()
    assert set(state.result) == {a, b}


def test_a_failed_child_of_a_terminal_mapped_task_fails_the_flow():
    """concepts/mapping.md + concepts/flows.md: a mapped reference task counts its children, so one
    Failed child fails the flow although the parent is Mapped."""
    @task
    def half(x):
        return 1 // x

    with Flow("s") as flow:
        r = half.map([1, 0])
    state = flow.run()
    assert isinstance(state.result[r], st.Mapped)
    assert state.is_failed()
    assert state.message == "Some reference tasks failed."


def test_all_skipped_flow_is_successful():
    """concepts/states.md: Skipped counts as success, so a flow whose tasks all skip succeeds."""
    from flowimg.engine import signals

    @task
    def skipper():
        raise signals.SKIP("nothing to do")

    with Flow("s") as flow:
        r = skipper()
    state = flow.run()
    assert state.is_successful()
    assert isinstance(state.result[r], st.Skipped)
