"""Behaviour shown by the examples in Prefect 1.4.1's docs (docs/core/concepts, idioms,
getting_started, advanced_tutorials), each checked with a short flow of our own."""
from datetime import datetime, timezone

import pytest
from dateutil import rrule as rrule_mod

import flowimg
from flowimg import Flow, task
from flowimg.schedules import Schedule
from flowimg.schedules.clocks import RRuleClock
from flowimg.schedules.serial import schedule_from_dict, schedule_to_dict
from flowimg.utilities.notifications import callback_factory

UTC = timezone.utc


def test_callback_factory_calls_fn_only_when_check_holds():
    """concepts/notifications.md: callback_factory(fn, check) is a state handler that calls
    fn(task, state) for the states check accepts (there: retrying) and keeps the state."""
    seen = []
    handler = callback_factory(lambda obj, state: seen.append((obj.name, type(state).__name__)),
                               lambda state: state.is_retrying())
    calls = {"n": 0}

    @task(max_retries=1, retry_delay=__import__("datetime").timedelta(0), state_handlers=[handler])
    def flaky():
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("first try fails")
        return "ok"

    with Flow("cb") as flow:
        r = flaky()
    state = flow.run()
    assert state.is_successful() and state.result[r].result == "ok"
    assert seen == [("flaky", "Retrying")]


def test_missing_context_key_raises_like_prefect():
    """concepts/execution.md: reading a key that is not in context inside a task fails the task
    with AttributeError "'Context' object has no attribute 'key'"."""
    @task
    def try_unlock():
        return flowimg.context.key == "abc"

    with Flow("Using Context") as flow:
        r = try_unlock()
    state = flow.run()
    assert state.is_failed()
    assert repr(state.result[r].result) == "AttributeError(\"'Context' object has no attribute 'key'\")"
    with flowimg.context(key="abc"):
        assert flow.run().result[r].result is True


def test_rrule_clock_emits_the_rule_times_after_start_date():
    """concepts/schedules.md: Schedule(clocks=[RRuleClock(rrule(...), start_date=...)])."""
    rule = rrule_mod.rrule(freq=rrule_mod.DAILY, count=7, dtstart=datetime(2030, 1, 1, 9))
    schedule = Schedule(clocks=[RRuleClock(rule, start_date=datetime(2030, 1, 3, 12, tzinfo=UTC))])
    assert schedule.next(2, after=datetime(2029, 1, 1, tzinfo=UTC)) == [
        datetime(2030, 1, 4, 9, tzinfo=UTC), datetime(2030, 1, 5, 9, tzinfo=UTC)]
    # `after` is exclusive once past the start date, and the rule's count ends the clock.
    assert schedule.next(5, after=datetime(2030, 1, 6, 9, tzinfo=UTC)) == [
        datetime(2030, 1, 7, 9, tzinfo=UTC)]


def test_rrule_clock_survives_registration_round_trip():
    """An RRuleClock schedule is recorded (as the rule's iCal text) and rebuilt the same."""
    rule = rrule_mod.rrule(freq=rrule_mod.WEEKLY, byweekday=rrule_mod.MO, dtstart=datetime(2030, 1, 1, 8))
    schedule = Schedule(clocks=[RRuleClock(rule)])
    rebuilt = schedule_from_dict(schedule_to_dict(schedule))
    after = datetime(2030, 2, 1, tzinfo=UTC)
    assert rebuilt.next(3, after=after) == schedule.next(3, after=after) == [
        datetime(2030, 2, 4, 8, tzinfo=UTC), datetime(2030, 2, 11, 8, tzinfo=UTC),
        datetime(2030, 2, 18, 8, tzinfo=UTC)]


def test_rrule_clock_rejects_a_non_rule():
    with pytest.raises(TypeError, match="rrule_obj must be an rrule or rruleset"):
        RRuleClock("FREQ=DAILY")


@pytest.fixture
def webhook():
    """A loopback HTTP endpoint that records the JSON bodies posted to it."""
    import http.server
    import json
    import threading

    bodies = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", bodies
    server.shutdown()
    server.server_close()


def test_slack_task_posts_the_upstream_value_as_text(webhook):
    """idioms/notifications.md: SlackTask()(message=value) posts {"text": value} to the webhook in
    the SLACK_WEBHOOK_URL secret; a dict message is posted as it is."""
    from flowimg.tasks.notifications import SlackTask

    url, bodies = webhook

    @task
    def get_value():
        return "Test SlackTask!"

    with Flow("slack-test") as flow:
        sent = SlackTask()(message=get_value())
        SlackTask(message={"blocks": []})()
    with flowimg.context(secrets={"SLACK_WEBHOOK_URL": url}):
        state = flow.run()
    assert state.is_successful() and state.result[sent].result is None
    assert sorted(bodies, key=str) == [{"blocks": []}, {"text": "Test SlackTask!"}]


def test_slack_task_without_its_secret_fails_with_prefects_message():
    from flowimg.tasks.notifications import SlackTask

    with Flow("slack-test") as flow:
        sent = SlackTask(message="hi")()
    state = flow.run()
    assert state.is_failed()
    assert state.result[sent].message == (
        'Error during execution of task: ValueError(\'Local Secret "SLACK_WEBHOOK_URL" was not found.\')')


def test_states_carry_result_objects():
    """concepts/results.md: state._result is a Result whose .value is what .result returns; a flow
    state's Result holds the task states; a task's is `<Result: 1>`."""
    from flowimg.engine.result import Result

    @task
    def add(x, y):
        return x + y

    with Flow("results") as flow:
        one = add(0, 1)
    state = flow.run()
    assert state._result.value == state.result == {one: state.result[one]}
    assert isinstance(state.result[one]._result, Result)
    assert repr(state.result[one]._result) == "<Result: 1>"
    assert state.result[one]._result.value == state.result[one].result == 1


@pytest.fixture
def checkpointing(monkeypatch):
    monkeypatch.setenv("FLOWIMG__FLOWS__CHECKPOINTING", "true")
    monkeypatch.setenv("PREFECT__FLOWS__CHECKPOINTING", "true")


def test_target_skips_the_task_once_its_file_exists(tmp_path, checkpointing):
    """idioms/targets.md: result=LocalResult(dir), target="{task_name}-{today}": the first run writes
    the file, the next run does not call the task and is Cached with the stored value."""
    tmp_path = tmp_path / "out"
    from flowimg.engine.results import LocalResult

    calls = []

    @task(result=LocalResult(dir=str(tmp_path)), target="{task_name}-{today}")
    def get_data():
        calls.append(1)
        return [1, 2, 3, 4, 5]

    with Flow("using-targets") as flow:
        data = get_data()
    first = flow.run().result[data]
    name = "get_data-" + __import__("datetime").date.today().isoformat()
    assert type(first).__name__ == "Success" and first._result.location == str(tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    second = flow.run().result[data]
    assert type(second).__name__ == "Cached" and calls == [1]
    assert second.message == f"Result found at task target {name}"
    assert second.result == [1, 2, 3, 4, 5] and second._result.location == name


def test_result_locations_are_templated_or_computed(tmp_path, checkpointing):
    """concepts/templating.md: a location may be a template over context and inputs (mapped children
    get their map_index) or a function called with them."""
    tmp_path = tmp_path / "out"
    from flowimg.engine.results import LocalResult

    def format_location(task_name, **kwargs):
        return str(tmp_path / f"{task_name}.out")

    @task(result=LocalResult(location=format_location))
    def my_task():
        return [1, 2, 3, 4]

    @task(result=LocalResult(dir=str(tmp_path), location="{task_name}-{map_index}-{x}.txt"))
    def square(x):
        return x * x

    with Flow("locations") as flow:
        mine = my_task()
        squares = square.map([1, 2, 3])
    state = flow.run()
    assert state.is_successful()
    assert state.result[mine]._result.location == str(tmp_path / "my_task.out")
    assert state.result[squares].map_states[1]._result.location == str(tmp_path / "square-1-2.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "my_task.out", "square-0-1.txt", "square-1-2.txt", "square-2-3.txt"]
    assert LocalResult(dir=str(tmp_path)).read("square-2-3.txt").value == 9


def test_prefect_result_keeps_the_value_as_json_in_its_location(checkpointing):
    """concepts/results.md: PrefectResult stores a JSON-able value in the location string."""
    from flowimg.engine.results import PrefectResult

    @task(result=PrefectResult())
    def make():
        return {"a": 1}

    with Flow("json") as flow:
        made = make()
    state = flow.run().result[made]
    assert state._result.location == '{"a": 1}' and state.result == {"a": 1}


def test_results_are_not_written_without_checkpointing(tmp_path, monkeypatch):
    """using-results.md: a local flow.run() only writes results when checkpointing is turned on."""
    tmp_path = tmp_path / "out"
    from flowimg.engine.results import LocalResult

    monkeypatch.delenv("FLOWIMG__FLOWS__CHECKPOINTING", raising=False)
    monkeypatch.delenv("PREFECT__FLOWS__CHECKPOINTING", raising=False)

    @task(result=LocalResult(dir=str(tmp_path), location="{task_name}.out"))
    def make():
        return 3

    with Flow("no-checkpoint") as flow:
        made = make()
    state = flow.run().result[made]
    assert state.result == 3 and state._result.location is None
    assert type(state._result).__name__ == "LocalResult" and not tmp_path.exists()


def test_task_run_name_is_templated_from_inputs_into_context():
    """idioms/task-run-names.md: task_run_name="{val}" is formatted with the task's inputs (per mapped
    child) and visible in context as task_run_name."""
    @task(task_run_name="{val}-run")
    def named(val):
        return flowimg.context.task_run_name

    with Flow("names") as flow:
        names = named.map(["a", "b"])
    assert flow.run().result[names].result == ["a-run", "b-run"]


def test_resource_manager_sets_up_once_and_cleans_up_after_the_tasks_inside():
    """idioms/resource-manager.md: setup's value goes to the tasks inside the `with` block; cleanup
    gets it after they finish, also when one of them failed; tasks outside run as usual."""
    from flowimg import resource_manager

    events = []

    @resource_manager
    class Session:
        def __init__(self, name):
            self.name = name

        def setup(self):
            events.append("setup")
            return f"session-{self.name}"

        def cleanup(self, session):
            events.append(f"cleanup {session}")

    @task
    def use(session, x):
        events.append(f"use {session} {x}")
        if x == 2:
            raise ValueError("bad x")
        return x

    @task
    def after(values):
        return values

    with Flow("resources") as flow:
        with Session("db") as session:
            used = use.map(unmapped_session(session), [1, 2])
        summary = after(used)
    state = flow.run()
    assert events[0] == "setup" and events[-1] == "cleanup session-db"
    assert sorted(events[1:-1]) == ["use session-db 1", "use session-db 2"]
    assert state.is_failed() and type(state.result[summary]).__name__ == "TriggerFailed"
    assert [type(s).__name__ for s in state.result[used].map_states] == ["Success", "Failed"]


def unmapped_session(session):
    return flowimg.unmapped(session)


def test_result_serializers_choose_the_bytes_written(tmp_path, checkpointing):
    """concepts/results.md: LocalResult(serializer=...) decides the stored bytes: JSONSerializer writes
    JSON text, a Serializer subclass of your own is used for write and read, and a compressed one
    round-trips."""
    import gzip

    from flowimg.engine.result import Result
    from flowimg.engine.results import LocalResult

    class Upper(flowimg.engine.serializers.Serializer):
        def serialize(self, value):
            return value.upper().encode()

        def deserialize(self, value):
            return value.decode().lower()

    assert isinstance(Result(serializer=Upper()).serializer, Upper)
    out = tmp_path / "out"
    compressed = flowimg.engine.serializers.CompressedSerializer(
        flowimg.engine.serializers.JSONSerializer(), format="gzip")

    @task(result=LocalResult(dir=str(out), location="data.json",
                             serializer=flowimg.engine.serializers.JSONSerializer()))
    def data():
        return {"a": [1, 2]}

    @task(result=LocalResult(dir=str(out), location="word.txt", serializer=Upper()))
    def word():
        return "hello"

    @task(result=LocalResult(dir=str(out), location="data.gz", serializer=compressed))
    def packed():
        return [1, 2, 3]

    with Flow("serializers") as flow:
        data(), word(), packed()
    assert flow.run().is_successful()
    assert (out / "data.json").read_text() == '{"a": [1, 2]}'
    assert (out / "word.txt").read_text() == "HELLO"
    assert LocalResult(dir=str(out), serializer=Upper()).read("word.txt").value == "hello"
    assert gzip.decompress((out / "data.gz").read_bytes()) == b"[1, 2, 3]"
    assert LocalResult(dir=str(out), serializer=compressed).read("data.gz").value == [1, 2, 3]


def test_sqlite_tasks_create_insert_and_query(tmp_path):
    """advanced_tutorials/advanced-mapping.md: SQLiteScript creates the table and runs mapped insert
    scripts; SQLiteQuery returns the rows of one parametrised statement."""
    from flowimg.tasks.database import SQLiteQuery, SQLiteScript

    db = str(tmp_path / "episodes.sqlite")
    create_db = SQLiteScript(name="Create DB", db=db, script="CREATE TABLE IF NOT EXISTS T (EP TEXT, LINE TEXT)")
    insert = SQLiteScript(name="Insert", db=db)
    query = SQLiteQuery(db=db, query="SELECT LINE FROM T WHERE EP = ? ORDER BY LINE", data=("b",))

    @task
    def script_for(episode):
        return f"INSERT INTO T (EP, LINE) VALUES ('{episode}', '{episode}1'), ('{episode}', '{episode}2');"

    with Flow("sqlite") as flow:
        made = create_db()
        inserted = insert.map(script=script_for.map(["a", "b"]), upstream_tasks=[flowimg.unmapped(made)])
        rows = query(upstream_tasks=[inserted])
        unfilled = SQLiteQuery(db=db, query="SELECT * FROM T WHERE EP = ?")(upstream_tasks=[inserted])
    state = flow.run()
    assert state.result[rows].result == [("b1",), ("b2",)]
    assert state.result[unfilled].message == (
        "Error during execution of task: ValueError(\"The data inputs must be specified as a tuple if query "
        "contains parametrized values '?'\")")


def test_dask_executor_logs_the_cluster_it_creates(caplog):
    """idioms/parallel.md: DaskExecutor() logs which temporary cluster class it starts, in Prefect's words."""
    import logging

    from flowimg.executors import DaskExecutor

    @task
    def double(x):
        return 2 * x

    with Flow("parallel-execution") as flow:
        doubled = double.map([1, 2])
    with caplog.at_level(logging.INFO):
        state = flow.run(executor=DaskExecutor(cluster_kwargs={
            "n_workers": 1, "processes": False, "dashboard_address": "127.0.0.1:0"}))
    assert state.result[doubled].result == [2, 4]
    assert "Creating a new Dask cluster with `distributed.deploy.local.LocalCluster`..." in caplog.messages


def test_calling_a_task_outside_a_flow_is_a_value_error_and_run_calls_the_body():
    """concepts/tasks.md: a task called outside `with Flow(...)` raises ValueError; `.run()` calls the
    function itself (how the docs test a task). Unpacking without nout: test_compat_graph."""
    @task
    def add(x, y=1):
        return x + y

    with pytest.raises(ValueError):
        add(1, 2)
    assert add.run(1, 2) == 3
