"""Context, logging and state handlers (docs/core/concepts/execution.md "Context",
concepts/logging.md, concepts/notifications.md "State handlers", concepts/flows.md)."""
import logging

import flowimg
from flowimg import Flow, Task, task
from flowimg.engine import state as st


def test_task_context_values():
    """concepts/execution.md: during a task run context has flow_name, task_name, task_full_name,
    map_index (None when unmapped), today (YYYY-MM-DD) and a logger."""
    @task(name="my-task")
    def ctx():
        c = flowimg.context
        return (c.get("flow_name"), c.get("task_name"), c.get("map_index"), len(c.get("today")),
                c.get("today")[4], isinstance(c.get("logger"), logging.Logger), c.flow_name)

    with Flow("ctx-flow") as flow:
        r = ctx()
    assert flow.run().result[r].result == ("ctx-flow", "my-task", None, 10, "-", True, "ctx-flow")


def test_ambient_context_reaches_tasks():
    """concepts/execution.md: `with context(key=value):` around flow.run() is visible inside tasks."""
    @task
    def read():
        return flowimg.context.get("greeting")

    with Flow("c") as flow:
        r = read()
    with flowimg.context(greeting="hi"):
        state = flow.run()
    assert state.result[r].result == "hi"
    assert flowimg.context.get("greeting") is None


def test_context_is_a_dict_like_with_attribute_access():
    """concepts/execution.md: context supports dict access, attribute access and nested updates."""
    with flowimg.context(a=1):
        assert flowimg.context["a"] == 1
        assert flowimg.context.a == 1
        with flowimg.context(a=2):
            assert flowimg.context.get("a") == 2
        assert flowimg.context.a == 1
    assert "a" not in flowimg.context


def test_logger_records_use_standard_logging(caplog):
    """concepts/logging.md: task logs go through the standard logging module (logger name
    '<lib>.<task name>' for a task's logger, '<lib>.TaskRunner' for the runner's start/finish lines)
    so ordinary handlers capture them."""
    @task(name="Log Me")
    def logs():
        flowimg.context.get("logger").warning("hello from task")

    with Flow("l") as flow:
        logs()
    with caplog.at_level(logging.INFO):
        flow.run()
    recs = [r for r in caplog.records if r.getMessage() == "hello from task"]
    assert len(recs) == 1
    assert recs[0].levelno == logging.WARNING
    assert recs[0].name == "flowimg.Log Me"
    runner = [r.getMessage() for r in caplog.records if r.name == "flowimg.TaskRunner"]
    assert "Task 'Log Me': Starting task run..." in runner
    assert "Task 'Log Me': Finished task run for task with final state: 'Success'" in runner


def test_log_stdout_sends_prints_to_the_logger(caplog):
    """concepts/logging.md "Logging stdout": with log_stdout=True prints inside the task are logged
    (by the task runner's logger)."""
    @task(log_stdout=True)
    def printer():
        print("printed line")

    with Flow("l") as flow:
        printer()
    with caplog.at_level(logging.INFO):
        flow.run()
    recs = [r for r in caplog.records if r.getMessage() == "printed line"]
    assert [r.name for r in recs] == ["flowimg.TaskRunner"]


def test_task_subclass_has_self_logger():
    """concepts/logging.md: Task subclasses log through self.logger."""
    class Hello(Task):
        def run(self):
            self.logger.info("from run")
            return isinstance(self.logger, logging.Logger)

    with Flow("l") as flow:
        r = Hello()()
    assert flow.run().result[r].result is True


def test_task_state_handler_sees_every_transition():
    """concepts/notifications.md: a task state handler is called as handler(task, old, new) on each
    change: Pending -> Running -> Success."""
    seen = []

    def handler(t, old, new):
        seen.append((t.name, type(old).__name__, type(new).__name__))
        return new

    @task(state_handlers=[handler])
    def work():
        return 1

    with Flow("h") as flow:
        work()
    flow.run()
    assert seen == [("work", "Pending", "Running"), ("work", "Running", "Success")]


def test_state_handler_can_replace_the_state():
    """concepts/notifications.md: the state a handler returns becomes the new state."""
    def to_skipped(t, old, new):
        if new.is_failed():
            return st.Skipped("handled: " + str(new.message))
        return new

    @task(state_handlers=[to_skipped])
    def bad():
        raise ValueError("oops")

    with Flow("h") as flow:
        r = bad()
    state = flow.run()
    assert isinstance(state.result[r], st.Skipped)
    assert state.result[r].message.startswith("handled: ")
    assert state.is_successful()


def test_flow_state_handler_sees_flow_transitions():
    """concepts/notifications.md: flow state handlers get (flow, old, new): Scheduled? -> Running ->
    final state."""
    seen = []

    def handler(flow, old, new):
        seen.append(type(new).__name__)
        return new

    @task
    def bad():
        raise ValueError("oops")

    with Flow("h", state_handlers=[handler]) as flow:
        bad()
    flow.run()
    assert seen == ["Running", "Failed"]


def test_handlers_run_in_order_each_getting_the_previous_result():
    """concepts/notifications.md: several handlers run in list order, chained."""
    order = []

    def first(t, old, new):
        order.append("first")
        return new

    def second(t, old, new):
        order.append("second")
        return new

    @task(state_handlers=[first, second])
    def work():
        return 1

    with Flow("h") as flow:
        work()
    flow.run()
    assert order == ["first", "second", "first", "second"]


def test_a_raising_flow_state_handler_fails_the_flow():
    """concepts/notifications.md: state handlers run as part of the run; when a flow state handler
    raises, the flow ends Failed with 'Unexpected error while calling state handlers: <error>'."""
    def broken(flow, old, new):
        if new.is_finished():
            raise ImportError("handler needs a missing package")
        return new

    @task
    def ok():
        return 1

    with Flow("h", state_handlers=[broken]) as flow:
        ok()
    state = flow.run()
    assert state.is_failed()
    assert state.message == ("Unexpected error while calling state handlers: "
                             "ImportError('handler needs a missing package')")


def test_scheduled_start_time_prints_in_iso_form():
    """concepts/execution.md context + templating.md: scheduled_start_time is a UTC datetime whose
    str() is ISO 8601 with a 'T' separator and an offset (Prefect's pendulum DateTime)."""
    import re

    @task
    def when():
        return str(flowimg.context.get("scheduled_start_time"))

    with Flow("c") as flow:
        r = when()
    text = flow.run().result[r].result
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", text), text
