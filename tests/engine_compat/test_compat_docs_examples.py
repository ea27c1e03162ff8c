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
