"""Running flows: states, mapping, control flow, retries, triggers, signals (Prefect 1 behaviour)."""
from __future__ import annotations

import datetime
import logging

import pytest

import flowimg
from flowimg import Flow, FlowimgError, Parameter, Task, apply_map, case, flatten, task, unmapped
from flowimg.engine import signals
from flowimg.engine.state import Failed, Mapped, Skipped, Success, TimedOut, TriggerFailed
from flowimg.tasks.control_flow import ifelse, merge, switch
from flowimg.triggers import always_run, any_failed


@task
def numbers():
    return [1, 2, 3]


@task
def add_ten(x):
    return x + 10


@task
def total(xs):
    return sum(xs)


@task
def boom():
    raise ValueError("no data")


def test_mapping_gives_one_child_state_per_element_and_a_reduce_sees_all():
    with Flow("m") as flow:
        mapped = add_ten.map(numbers())
        again = add_ten.map(mapped)
        summed = total(again)
    state = flow.run()
    assert state.is_successful()
    assert isinstance(state.result[mapped], Mapped)
    assert [s.result for s in state.result[again].map_states] == [21, 22, 23]
    assert state.result[mapped].result == [11, 12, 13]
    assert state.result[summed].result == 66


def test_unmapped_and_constants_reach_every_child():
    @task
    def scale(x, factor):
        return x * factor

    with Flow("m") as flow:
        out = scale.map([1, 2], factor=unmapped(Parameter("f", default=3)))
    assert flow.run().result[out].result == [3, 6]


def test_empty_map_runs_no_children_and_downstream_gets_an_empty_list():
    with Flow("m") as flow:
        out = add_ten.map([])
        summed = total(out)
    state = flow.run()
    assert state.is_successful()
    assert state.result[out].map_states == []
    assert state.result[summed].result == 0


def test_flatten_maps_over_the_elements_of_nested_lists():
    @task
    def pair(x):
        return [x, x]

    with Flow("m") as flow:
        pairs = pair.map(numbers())
        flat = add_ten.map(flatten(pairs))
    assert flow.run().result[flat].result == [11, 11, 12, 12, 13, 13]


def test_mapping_over_a_non_iterable_is_one_clear_error_or_a_failed_task():
    with Flow("m") as flow:
        with pytest.raises(TypeError, match=r"cannot map over 5 \(a int\)"):
            add_ten.map(5)
        out = add_ten.map(Parameter("n", default=5))
    state = flow.run()
    assert state.is_failed()
    assert "unmappable" in state.result[out].message


def test_apply_map_maps_a_whole_function_of_tasks():
    def inc_then_double(x):
        return add_ten(x) * 2

    with Flow("m") as flow:
        out = apply_map(inc_then_double, numbers())
    assert flow.run().result[out].result == [22, 24, 26]


def test_a_failed_child_fails_only_its_own_downstream_child():
    @task
    def fragile(x):
        if x == 2:
            raise ValueError("two")
        return x

    with Flow("m") as flow:
        first = fragile.map(numbers())
        second = add_ten.map(first)
    state = flow.run()
    assert state.is_failed()
    kinds = [type(s) for s in state.result[second].map_states]
    assert kinds == [Success, TriggerFailed, Success]


def test_failure_goes_downstream_as_trigger_failed_but_independent_branches_run():
    ran = []

    @task
    def independent():
        ran.append("yes")

    with Flow("f") as flow:
        bad = boom()
        after = add_ten(bad)
        independent()
    state = flow.run()
    assert state.is_failed() and state.message == "Some reference tasks failed."
    assert isinstance(state.result[bad], Failed) and "ValueError('no data')" in state.result[bad].message
    assert isinstance(state.result[after], TriggerFailed)
    assert ran == ["yes"]


def test_reference_tasks_decide_the_flow_state():
    with Flow("f") as flow:
        good = numbers()
        boom()
    flow.set_reference_tasks([good])
    assert flow.run().is_successful()


def test_case_skips_the_branch_that_does_not_match_and_merge_picks_the_other():
    @task
    def check():
        return False

    @task
    def label(x):
        return x

    with Flow("c") as flow:
        cond = check()
        with case(cond, True):
            yes = label("yes")
        with case(cond, False):
            no = label("no")
        picked = merge(yes, no)
    state = flow.run()
    assert isinstance(state.result[yes], Skipped)
    assert state.result[no].result == "no"
    assert state.result[picked].result == "no"
    assert state.is_successful()


def test_ifelse_and_switch_skip_downstream_unless_told_otherwise():
    @task
    def value():
        return "b"

    @task
    def mark(x=None):
        return "ran"

    @task(skip_on_upstream_skip=False)
    def always(x=None):
        return "always"

    with Flow("s") as flow:
        a, b = mark(), mark()
        switch(value(), {"a": a, "b": b})
        after_a = mark(a)
        keep = always(a)
        t, f = mark(), mark()
        ifelse(value(), t, f)
    state = flow.run()
    assert isinstance(state.result[a], Skipped) and state.result[b].result == "ran"
    assert isinstance(state.result[after_a], Skipped)
    assert state.result[keep].result == "always"
    assert state.result[t].result == "ran" and isinstance(state.result[f], Skipped)


def test_retries_retry_after_the_delay_and_succeed():
    calls = []
    seen = []

    @task(max_retries=2, retry_delay=datetime.timedelta(seconds=0))
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("again")
        return flowimg.context.get("task_run_count")

    def handler(obj, old, new):
        seen.append(type(new).__name__)

    flaky.state_handlers.append(handler)
    with Flow("r") as flow:
        out = flaky()
    state = flow.run()
    assert state.is_successful() and state.result[out].result == 3
    assert seen.count("Retrying") == 2 and seen[-1] == "Success"


def test_retries_need_a_delay():
    with pytest.raises(FlowimgError, match="retry_delay"):
        task(lambda: 1, max_retries=1)


def test_timeout_gives_timed_out():
    import time

    @task(timeout=1)
    def slow():
        time.sleep(3)

    with Flow("t") as flow:
        out = slow()
    state = flow.run()
    assert isinstance(state.result[out], TimedOut)


def test_triggers_any_failed_and_always_run():
    @task(trigger=any_failed)
    def on_failure(x):
        return "cleanup"

    @task(trigger=always_run)
    def finally_(x):
        return "done"

    with Flow("t") as flow:
        bad = boom()
        cleanup = on_failure(bad)
        end = finally_(bad)
    state = flow.run()
    assert state.result[cleanup].result == "cleanup"
    assert state.result[end].result == "done"


def test_manual_only_and_non_function_triggers_are_refused():
    from flowimg.triggers import manual_only

    with pytest.raises(FlowimgError, match="manual_only"):
        task(lambda: 1, trigger=manual_only)
    with pytest.raises(FlowimgError, match="not a function"):
        task(lambda: 1, trigger="all_successful")


def test_signals_choose_the_state_and_loop_carries_its_result():
    @task
    def skipper():
        raise signals.SKIP("nothing to do")

    @task
    def failer():
        raise signals.FAIL("bad input")

    @task
    def looper():
        count = (flowimg.context.get("task_loop_result") or 0) + 1
        if count < 5:
            raise signals.LOOP(message=f"at {count}", result=count)
        return count

    with Flow("s") as flow:
        s, f, lp = skipper(), failer(), looper()
    state = flow.run()
    assert isinstance(state.result[s], Skipped) and state.result[s].message == "nothing to do"
    assert state.result[f].is_failed() and state.result[f].message == "bad input"
    assert state.result[lp].result == 5


def test_sys_exit_in_a_task_fails_that_task_and_not_the_run():
    import sys

    @task
    def quits():
        sys.exit(0)

    with Flow("x") as flow:
        q = quits()
        after = add_ten(q)
        other = numbers()
    state = flow.run()
    assert state.result[q].is_failed() and "SystemExit" in state.result[q].message
    assert isinstance(state.result[after], TriggerFailed)
    assert state.result[other].result == [1, 2, 3]


def test_dependencies_operators_indexing_and_upstream_tasks():
    order = []

    @task
    def first():
        order.append("first")
        return {"k": 4, "l": [5, 6]}

    @task
    def second():
        order.append("second")
        return 1

    @task(nout=2)
    def two():
        return 7, 8

    with Flow("d") as flow:
        data = first()
        late = second(upstream_tasks=[data])
        plus = data["k"] + 1
        idx = data["l"][1]
        bigger = plus > 4
        x, y = two()
        uncalled = add_ten(second)
    state = flow.run()
    assert flow.upstream_tasks(late) == {data} and flow.edges_to(late).pop().key is None
    assert sorted(order) == ["first", "second", "second"]
    assert state.result[plus].result == 5 and state.result[idx].result == 6
    assert state.result[bigger].result is True
    assert (state.result[x].result, state.result[y].result) == (7, 8)
    assert state.result[uncalled].result == 11
    assert state.result[late].result == 1


def test_imperative_api_and_task_subclasses():
    class Multiply(Task):
        def run(self, x, y):
            self.logger.info("multiplying")
            return x * y

    class Three(Task):
        def run(self):
            return 3

    three, mult, done = Three(), Multiply(name="mult"), Three(name="done")
    flow = Flow("i", tasks=[three])
    flow.add_task(mult)
    flow.add_edge(three, mult, key="x")
    mult.set_upstream(three, key="y", flow=flow)
    done.set_upstream(mult, flow=flow)
    state = flow.run()
    assert state.result[mult].result == 9
    assert flow.get_tasks(name="mult") == [mult]
    with Flow("b") as bound:
        m = Multiply().bind(x=2, y=5)
    assert bound.run().result[m].result == 10


def test_a_cycle_is_one_clear_error_and_a_failed_run():
    a, b = task(lambda x=None: 1, name="a"), task(lambda x=None: 2, name="b")
    flow = Flow("cyc")
    flow.add_edge(a, b, key="x")
    flow.add_edge(b, a, key="x")
    with pytest.raises(FlowimgError, match=r"flow 'cyc' has a cycle: .*a-1.*b-1"):
        flow.validate()
    state = flow.run()
    assert state.is_failed() and "has a cycle" in state.message
    from flowimg.core.running import failure_summary

    assert failure_summary(flow, state).startswith("flow 'cyc' has a cycle: ")


def test_context_has_run_information_and_log_stdout_goes_to_the_task_logger(caplog):
    seen = {}

    @task(log_stdout=True)
    def look(x):
        ctx = flowimg.context
        seen.update(flow=ctx.flow_name, task=ctx.task_name, slug=ctx.get("task_slug"),
                    params=dict(ctx.parameters), today=ctx.today, index=ctx.get("map_index"))
        print("hello from the task")
        return x

    with Flow("ctx") as flow:
        look.map([Parameter("p", default=1)])
    with caplog.at_level(logging.INFO, logger="flowimg"):
        flow.run()
    assert seen == {"flow": "ctx", "task": "look", "slug": "look-1", "params": {"p": 1},
                    "today": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"), "index": 0}
    messages = [(r.name, r.getMessage()) for r in caplog.records]
    assert ("flowimg.TaskRunner", "hello from the task") in messages
    assert ("flowimg.TaskRunner", "Task 'look[0]': Starting task run...") in messages


def test_state_handlers_on_the_flow_see_each_change_and_may_replace_it():
    changes = []

    def on_flow(flow, old, new):
        changes.append((type(old).__name__, type(new).__name__))
        if new.is_failed():
            return Success("overruled", result=new.result)
        return new

    with Flow("h", state_handlers=[on_flow]) as flow:
        boom()
    state = flow.run()
    assert changes == [("Scheduled", "Running"), ("Running", "Failed")]
    assert state.is_successful() and state.message == "overruled"


def test_caching_reuses_results_within_the_process():
    from flowimg.engine.cache_validators import all_inputs

    calls = []

    @task(cache_for=datetime.timedelta(minutes=1), cache_validator=all_inputs, cache_key="cache-test")
    def expensive(x):
        calls.append(x)
        return x * 2

    with Flow("cache") as flow:
        out = expensive(Parameter("x"))
    assert flow.run(x=1).result[out].result == 2
    second = flow.run(x=1).result[out]
    assert second.is_cached() and second.result == 2
    flow.run(x=2)
    assert calls == [1, 2]


def test_loading_flag_makes_run_return_at_once():
    ran = []
    with Flow("l") as flow:
        task(lambda: ran.append(1), name="side_effect")()
    with flowimg.context(loading_flow=True):
        assert flow.run() is None
    assert ran == []
    assert flow.run().is_successful() and ran == [1]


class TwoRuns:
    """A schedule with two due runs, the second with a parameter default, then none."""

    def __init__(self):
        self.clocks = ["two"]
        now = datetime.datetime.now(datetime.timezone.utc)
        self.events = [now, now]

    def next(self, n, return_events=False):
        if not self.events:
            return []

        class Event:
            def __init__(self, when, defaults):
                self.start_time, self.parameter_defaults = when, defaults

        when = self.events.pop(0)
        return [Event(when, {} if self.events else {"who": "clock"})]


def test_a_scheduled_flow_runs_on_its_schedule_and_run_on_schedule_false_runs_once():
    seen = []

    @task
    def hello(who):
        seen.append(who)

    with Flow("sched", schedule=TwoRuns()) as flow:
        hello(Parameter("who", default="default"))
    assert flow.run().is_successful()
    assert seen == ["default", "clock"]
    assert flow.run(run_on_schedule=False).is_successful()
    assert seen == ["default", "clock", "default"]


def test_a_schedule_without_clocks_is_refused():
    class Empty:
        clocks = []

    with pytest.raises(FlowimgError, match="no clocks"):
        Flow("x", schedule=Empty())


def test_pause_is_refused_as_a_failed_task_and_the_run_ends():
    @task
    def wait_for_me():
        raise signals.PAUSE("approve me")

    with Flow("p") as flow:
        paused = wait_for_me()
        after = add_ten(paused)
    state = flow.run()
    assert state.is_failed()
    assert "backend" in state.result[paused].message
    assert isinstance(state.result[after], TriggerFailed)


def test_apply_map_builds_the_same_structure_every_time():
    from flowimg import Flow, apply_map, case, task
    from flowimg.tasks.control_flow import merge

    def build():
        inc, neg, even = task(lambda x: x + 1, name="inc"), task(lambda x: -x, name="neg"), task(
            lambda x: x % 2 == 0, name="even")

        def branch(x):
            cond = even(x)
            with case(cond, True):
                a = inc(x)
            with case(cond, False):
                b = neg(x)
            return merge(a, b)

        with Flow("apply") as flow:
            out = apply_map(branch, range(4))
        return flow, out

    flows = [build() for _ in range(5)]
    assert len({flow.structure_hash() for flow, _ in flows}) == 1
    flow, out = flows[0]
    state = flow.run()
    assert state.result[out].result == [1, -1, 3, -3]
    assert [t.name for t in state.result if t.name.startswith("Constant")] == ["Constant[range]"]


def test_a_failing_state_handler_fails_the_task_with_prefects_message():
    def broken(task, old, new):
        raise RuntimeError("handler bug")

    with Flow("h") as flow:
        out = task(lambda: 1, name="one", state_handlers=[broken])()
    state = flow.run()
    assert state.result[out].is_failed()
    assert state.result[out].message == "Unexpected error while calling state handlers: RuntimeError('handler bug')"


def test_template_tasks_render_with_inputs_and_context():
    from flowimg.tasks.templates import JinjaTemplate, StringFormatter

    with Flow("tpl") as flow:
        jinja = JinjaTemplate(template="{{ flow_name }}: {{ x }}")(x=Parameter("x", default=3))
        fmt = StringFormatter(template="{flow_name}/{y}")(y=4)
    state = flow.run()
    assert state.result[jinja].result == "tpl: 3"
    assert state.result[fmt].result == "tpl/4"


def test_scheduled_start_time_prints_like_prefects_pendulum_datetime():
    from flowimg.utilities.datetimes import DateTime

    @task
    def week_later():
        return flowimg.context.get("scheduled_start_time") + datetime.timedelta(days=7)

    with Flow("dates") as flow:
        later = week_later()
    value = flow.run().result[later].result
    assert isinstance(value, DateTime)
    assert str(value) == value.isoformat() and "T" in str(value)
    assert repr(DateTime(2026, 12, 3, 23, 55, 40, 150964, tzinfo=datetime.timezone.utc)) == (
        "DateTime(2026, 12, 3, 23, 55, 40, 150964, tzinfo=Timezone('UTC'))")


def test_slack_notifier_reads_its_secret_and_skips_unselected_states():
    from flowimg.utilities.notifications import slack_notifier

    handler = slack_notifier(only_states=[Failed])
    with Flow("notify") as flow:
        out = task(lambda: 1, name="one", state_handlers=[handler])()
    assert flow.run().result[out].message == (
        "Unexpected error while calling state handlers: ValueError('Local Secret \"SLACK_WEBHOOK_URL\" was not found.')")
    with flowimg.context(secrets={"SLACK_WEBHOOK_URL": "http://127.0.0.1:9/unused"}):
        assert flow.run().result[out].result == 1


def test_an_unknown_trigger_name_is_one_clear_error():
    from flowimg import triggers

    with pytest.raises(AttributeError, match="no trigger 'all_sucessful'; use one of: all_successful"):
        triggers.all_sucessful  # noqa: B018 (the attribute lookup is what is tested)


def test_log_level_comes_from_the_environment(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "quiet.py"
    script.write_text("from flowimg import Flow, task\nwith Flow('q') as flow:\n    task(lambda: 1, name='one')()\n"
                      "flow.run()\n")
    quiet = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                           env={**__import__("os").environ, "FLOWIMG__LOGGING__LEVEL": "WARNING"})
    assert quiet.returncode == 0 and "Starting task run" not in quiet.stdout
