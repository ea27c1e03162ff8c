"""Control-flow facts (docs/core/idioms/conditional.md, task_library control_flow, concepts/states.md)."""
from flowimg import Flow, Parameter, task, case
from flowimg.engine import state as st
from flowimg.tasks.control_flow import ifelse, merge, switch


@task
def const(x):
    return x


@task
def shout(x):
    return str(x).upper()


@task
def echo(x):
    return x


def test_case_runs_only_the_matching_branch():
    """idioms/conditional.md: tasks inside `with case(t, v)` run only when t's result == v; the other
    branch ends Skipped and the flow still succeeds."""
    with Flow("c") as flow:
        cond = const(True)
        with case(cond, True):
            yes = shout("yes")
        with case(cond, False):
            no = shout("no")
    state = flow.run()
    assert state.is_successful()
    assert state.result[yes].result == "YES"
    assert isinstance(state.result[no], st.Skipped)
    assert state.result[no].is_successful()  # Skipped is a Success subclass (concepts/states.md)


def test_case_on_a_parameter_value():
    """idioms/conditional.md: the condition may be any task, e.g. a Parameter."""
    with Flow("c") as flow:
        p = Parameter("p", default="a")
        with case(p, "b"):
            r = shout(p)
    assert isinstance(flow.run().result[r], st.Skipped)
    assert flow.run(p="b").result[r].result == "B"


def test_merge_returns_the_first_unskipped_branch():
    """idioms/conditional.md "Merging branches": merge(a, b) returns the result of the first branch
    that was not skipped."""
    with Flow("c") as flow:
        cond = const(False)
        with case(cond, True):
            a = shout("a")
        with case(cond, False):
            b = shout("b")
        m = merge(a, b)
        after = echo(m)
    state = flow.run()
    assert state.result[m].result == "B"
    assert state.result[after].result == "B"


def test_merge_of_all_skipped_branches_is_none():
    """task_library control_flow merge: when every branch was skipped, merge's result is None."""
    with Flow("c") as flow:
        cond = const(0)
        with case(cond, 1):
            a = shout("a")
        with case(cond, 2):
            b = shout("b")
        m = merge(a, b)
    state = flow.run()
    assert state.result[m].is_successful()
    assert state.result[m].result is None


def test_downstream_of_a_skip_is_skipped():
    """idioms/conditional.md + concepts/tasks.md: a task whose upstream was Skipped is Skipped too
    (skip_on_upstream_skip=True by default)."""
    with Flow("c") as flow:
        cond = const(False)
        with case(cond, True):
            a = shout("a")
        b = echo(a)
    state = flow.run()
    assert isinstance(state.result[b], st.Skipped)
    assert state.is_successful()


def test_skip_on_upstream_skip_false_runs_anyway():
    """concepts/tasks.md: skip_on_upstream_skip=False lets a task run after a Skipped upstream
    (it receives None for the skipped result)."""
    @task(skip_on_upstream_skip=False)
    def tolerant(x):
        return "ran with %r" % (x,)

    with Flow("c") as flow:
        cond = const(False)
        with case(cond, True):
            a = shout("a")
        b = tolerant(a)
    assert flow.run().result[b].result == "ran with None"


def test_ifelse_runs_one_of_two_tasks():
    """task_library control_flow ifelse(cond, true_task, false_task): the other task is Skipped."""
    with Flow("c") as flow:
        cond = const(False)
        t = shout("t")
        f = shout("f")
        ifelse(cond, t, f)
    state = flow.run()
    assert isinstance(state.result[t], st.Skipped)
    assert state.result[f].result == "F"


def test_switch_runs_the_task_under_the_matching_key():
    """task_library control_flow switch(cond, {value: task}): non-matching tasks are Skipped."""
    with Flow("c") as flow:
        cond = const("b")
        a = shout("a")
        b = shout("b")
        c = shout("c")
        switch(cond, dict(a=a, b=b, c=c))
    state = flow.run()
    assert state.result[b].result == "B"
    assert isinstance(state.result[a], st.Skipped)
    assert isinstance(state.result[c], st.Skipped)


def test_nested_case_blocks_need_both_conditions():
    """idioms/conditional.md: case blocks nest; inner tasks run only when every enclosing case holds."""
    with Flow("c") as flow:
        x = const(1)
        y = const(2)
        with case(x, 1):
            with case(y, 3):
                inner = shout("inner")
            outer = shout("outer")
    state = flow.run()
    assert state.result[outer].result == "OUTER"
    assert isinstance(state.result[inner], st.Skipped)
