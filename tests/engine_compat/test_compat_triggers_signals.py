"""Triggers and signals (docs/core/concepts/execution.md "Triggers", concepts/states.md "Signals",
advanced_tutorials/task-looping.md)."""

import flowimg
from flowimg import Flow, task
from flowimg.engine import signals
from flowimg.engine import state as st
from flowimg.triggers import all_failed, all_finished, always_run, any_failed, any_successful


@task
def ok():
    return "ok"


@task
def boom():
    raise RuntimeError("x")


def _after(trigger):
    @task(trigger=trigger)
    def after():
        return "ran"

    return after


def run_with(trigger, *ups):
    t = _after(trigger)
    with Flow("t") as flow:
        r = t(upstream_tasks=[u() for u in ups])
    return flow.run().result[r]


def test_all_successful_is_the_default_trigger():
    """concepts/execution.md: all_successful (the default) runs only when every upstream succeeded."""
    s = run_with(flowimg.triggers.all_successful, ok, boom)
    assert isinstance(s, st.TriggerFailed)
    assert 'Trigger was "all_successful" but some of the upstream tasks failed.' == s.message


def test_all_failed():
    """concepts/execution.md: all_failed runs when every upstream failed, else TriggerFailed."""
    assert run_with(all_failed, boom, boom).result == "ran"
    assert isinstance(run_with(all_failed, ok, boom), st.TriggerFailed)


def test_any_failed():
    """concepts/execution.md: any_failed runs when at least one upstream failed."""
    assert run_with(any_failed, ok, boom).result == "ran"
    assert isinstance(run_with(any_failed, ok, ok), st.TriggerFailed)


def test_any_successful():
    """concepts/execution.md: any_successful runs when at least one upstream succeeded."""
    assert run_with(any_successful, ok, boom).result == "ran"
    assert isinstance(run_with(any_successful, boom, boom), st.TriggerFailed)


def test_all_finished_and_always_run():
    """concepts/execution.md: all_finished (alias always_run) runs whatever the upstream states."""
    assert run_with(all_finished, boom, ok).result == "ran"
    assert run_with(always_run, boom, boom).result == "ran"


def test_fail_signal_fails_with_its_message():
    """concepts/states.md signals: raising FAIL("msg") makes the task Failed with that message."""
    @task
    def t():
        raise signals.FAIL("nope")

    with Flow("s") as flow:
        r = t()
    state = flow.run()
    assert type(state.result[r]) is st.Failed
    assert state.result[r].message == "nope"
    assert state.is_failed()


def test_skip_signal_skips_and_downstream_skips():
    """concepts/states.md signals: SKIP makes the task Skipped (a success); downstream tasks are
    Skipped too and the flow succeeds."""
    @task
    def t():
        raise signals.SKIP("not today")

    @task
    def down(x):
        return x

    with Flow("s") as flow:
        a = t()
        b = down(a)
    state = flow.run()
    assert isinstance(state.result[a], st.Skipped)
    assert state.result[a].message == "not today"
    assert isinstance(state.result[b], st.Skipped)
    assert state.is_successful()


def test_success_signal_sets_result():
    """concepts/states.md signals: SUCCESS(message, result=...) ends the task successfully."""
    @task
    def t():
        raise signals.SUCCESS("early", result=5)

    with Flow("s") as flow:
        r = t()
    s = flow.run().result[r]
    assert isinstance(s, st.Success) and s.message == "early" and s.result == 5


def test_loop_signal_reruns_with_loop_result_and_count():
    """advanced_tutorials/task-looping.md: raising LOOP(result=...) reruns the task; the next run
    sees task_loop_result and task_loop_count (2, 3, ...; unset on the first run) in context; the final return is the result."""
    seen = []

    @task
    def count_up():
        n = flowimg.context.get("task_loop_result", 0)
        seen.append((flowimg.context.get("task_loop_count"), n))
        if n >= 3:
            return n
        raise signals.LOOP(message="at %d" % n, result=n + 1)

    with Flow("loop") as flow:
        r = count_up()
    state = flow.run()
    assert state.result[r].result == 3
    assert seen == [(None, 0), (2, 1), (3, 2), (4, 3)]


def test_endrun_sets_the_given_state():
    """concepts/execution.md / engine signals: ENDRUN(state) ends the run with exactly that state."""
    @task
    def t():
        raise signals.ENDRUN(st.Skipped("stop here"))

    with Flow("s") as flow:
        r = t()
    s = flow.run().result[r]
    assert isinstance(s, st.Skipped) and s.message == "stop here"


def test_signal_subclasses_map_to_states():
    """concepts/states.md: every signal carries the state it produces."""
    assert signals.FAIL("m").state.__class__ is st.Failed
    assert signals.SKIP("m").state.__class__ is st.Skipped
    assert signals.SUCCESS("m").state.__class__ is st.Success
