"""Run details scripts rely on: loading, slugs, executors, mapped retries, skips in maps
(docs/core/concepts/flows.md, concepts/mapping.md, concepts/execution.md "Executors",
idioms/script-based.md)."""
from datetime import timedelta

import flowimg
from flowimg import Flow, Parameter, task
from flowimg.engine import signals
from flowimg.engine import state as st


@task
def inc(x):
    return x + 1


@task
def total(xs):
    return sum(xs)


def test_flow_run_while_loading_runs_nothing():
    """idioms/script-based.md: scripts are loaded for registration without running their module-level
    flow.run(): inside the loading_flow context flow.run() runs no task and returns at once
    (Prefect returns None; a not-finished placeholder state is an accepted superset)."""
    calls = []

    @task
    def side():
        calls.append(1)

    with Flow("load") as flow:
        side()
    with flowimg.context(loading_flow=True):
        result = flow.run()
    assert result is None or not result.is_finished()
    assert calls == []
    assert flow.run().is_successful()
    assert calls == [1]


def test_slugs_number_copies_of_a_task():
    """concepts/flows.md: flow.slugs gives each task a unique slug, '<name>-<n>' counting copies
    (task.slug itself stays None unless set)."""
    with Flow("slugs") as flow:
        a = inc(1)
        b = inc(2)
        p = Parameter("p", default=0)
        c = inc(p)
    slugs = flow.slugs
    assert (slugs[a], slugs[b], slugs[c]) == ("inc-1", "inc-2", "inc-3")
    assert slugs[p] == "p"


def test_mapped_children_retry_individually():
    """concepts/mapping.md + tutorial/04-handling-failure.md: each mapped child retries on its own."""
    seen = {}

    @task(max_retries=2, retry_delay=timedelta(seconds=0))
    def flaky(x):
        seen[x] = seen.get(x, 0) + 1
        if x == 2 and seen[x] < 3:
            raise ValueError("not yet")
        return x * 10

    with Flow("m") as flow:
        r = flaky.map([1, 2, 3])
    state = flow.run()
    assert state.is_successful()
    assert state.result[r].result == [10, 20, 30]
    assert seen == {1: 1, 2: 3, 3: 1}


def test_skipped_child_skips_the_reduce_unless_filtered():
    """concepts/mapping.md "Filter map output": a SKIP in one child leaves the others running; a
    plain reduce step downstream is Skipped, while FilterTask (which tolerates skips) with the docs'
    filter_func drops the skipped child and its consumer runs."""
    from flowimg.tasks.control_flow import FilterTask

    @task
    def only_odd(x):
        if x % 2 == 0:
            raise signals.SKIP("even")
        return x

    @task
    def collect(xs):
        return list(xs)

    with Flow("m") as flow:
        r = only_odd.map([1, 2, 3])
        raw = collect(r)
        keep = FilterTask(filter_func=lambda x: not isinstance(x, (BaseException, type(None))))
        clean = collect(keep(r))
    state = flow.run()
    assert [type(s).__name__ for s in state.result[r].map_states] == ["Success", "Skipped", "Success"]
    assert isinstance(state.result[raw], st.Skipped)
    assert state.result[clean].result == [1, 3]


def test_mapped_parameter():
    """concepts/mapping.md: a Parameter holding a list can be mapped over."""
    with Flow("m") as flow:
        xs = Parameter("xs", default=[1, 2])
        r = inc.map(xs)
    assert flow.run().result[r].result == [2, 3]
    assert flow.run(xs=[5]).result[r].result == [6]


def test_context_has_scheduled_start_time_and_dates():
    """concepts/execution.md context: scheduled_start_time (a datetime), date, today, yesterday,
    tomorrow (YYYY-MM-DD strings) are set for a run."""
    import datetime as dt

    @task
    def ctx():
        c = flowimg.context
        return (isinstance(c.get("scheduled_start_time"), dt.datetime),
                [len(c.get(k)) for k in ("today", "yesterday", "tomorrow")],
                isinstance(c.get("date"), dt.datetime))

    with Flow("c") as flow:
        r = ctx()
    assert flow.run().result[r].result == (True, [10, 10, 10], True)


def test_task_run_count_and_flow_run_context():
    """concepts/execution.md context: task_run_count is 1 on the first attempt; flow_name is set."""
    @task
    def ctx():
        return flowimg.context.get("task_run_count"), flowimg.context.get("flow_name")

    with Flow("named") as flow:
        r = ctx()
    assert flow.run().result[r].result == (1, "named")


def test_raise_on_exception_reraises_task_errors():
    """advanced_tutorials/local-debugging.md: inside raise_on_exception() a task error propagates
    out of flow.run()."""
    import pytest
    from flowimg.utilities.debug import raise_on_exception

    @task
    def bad():
        raise ZeroDivisionError("zero")

    with Flow("dbg") as flow:
        bad()
    with raise_on_exception():
        with pytest.raises(ZeroDivisionError):
            flow.run()
