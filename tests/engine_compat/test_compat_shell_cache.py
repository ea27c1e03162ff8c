"""ShellTask and caching (docs/core/task_library/overview.md ShellTask examples, api shell task
docs; concepts/persistence.md "Output caching")."""
import datetime

from flowimg import Flow, task
from flowimg.engine import state as st
from flowimg.engine.cache_validators import all_inputs
from flowimg.tasks.shell import ShellTask


def test_shell_task_returns_the_last_line():
    """task_library/overview.md: ShellTask runs a command with bash and returns its last output line."""
    sh = ShellTask()
    with Flow("sh") as flow:
        r = sh(command="echo first; echo second")
    state = flow.run()
    assert state.result[r].result == "second"


def test_shell_task_return_all_and_env():
    """ShellTask(return_all=True) returns every line; env= adds environment variables."""
    sh = ShellTask(return_all=True, env={"GREETING": "hi"})
    with Flow("sh") as flow:
        r = sh(command='echo "$GREETING"; echo there')
    assert flow.run().result[r].result == ["hi", "there"]


def test_shell_task_helper_script_runs_first():
    """task_library/overview.md: helper_script is run before the command in the same shell."""
    sh = ShellTask(helper_script="NAME=world")
    with Flow("sh") as flow:
        r = sh(command='echo "hello $NAME"')
    assert flow.run().result[r].result == "hello world"


def test_shell_task_nonzero_exit_fails():
    """A non-zero exit code makes the ShellTask Failed, naming the exit code."""
    sh = ShellTask()
    with Flow("sh") as flow:
        r = sh(command="exit 3")
    state = flow.run()
    assert state.result[r].is_failed()
    assert "3" in state.result[r].message
    assert state.is_failed()


def test_shell_task_command_set_at_init():
    """task_library/overview.md: the command may be given when the task is created."""
    sh = ShellTask(command="printf 'a\\nb\\n'")
    with Flow("sh") as flow:
        r = sh()
    assert flow.run().result[r].result == "b"


def test_cache_for_reuses_the_result_within_the_process():
    """concepts/persistence.md "Output caching": with cache_for, a later run within the window
    returns the Cached result without running the task again."""
    calls = []

    @task(cache_for=datetime.timedelta(hours=1))
    def expensive():
        calls.append(1)
        return len(calls)

    with Flow("cache") as flow:
        r = expensive()
    first = flow.run()
    second = flow.run()
    assert first.result[r].result == 1
    assert isinstance(second.result[r], st.Cached)
    assert second.result[r].result == 1
    assert len(calls) == 1


def test_all_inputs_validator_reruns_on_new_inputs():
    """concepts/persistence.md: cache_validator=all_inputs invalidates the cache when inputs change."""
    calls = []

    @task(cache_for=datetime.timedelta(hours=1), cache_validator=all_inputs)
    def square(x):
        calls.append(x)
        return x * x

    from flowimg import Parameter

    with Flow("cache2") as flow:
        r = square(Parameter("x", default=2))
    assert flow.run().result[r].result == 4
    assert flow.run().result[r].result == 4
    assert flow.run(x=3).result[r].result == 9
    assert calls == [2, 3]
