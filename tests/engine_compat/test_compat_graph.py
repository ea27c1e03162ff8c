"""Building flows: operators, indexing, nout, task_args, dependencies and the imperative API
(docs/core/concepts/tasks.md "Operators"/"Indexing"/"Multiple return values", concepts/flows.md
"Functional API"/"Imperative API", advanced_tutorials/task-guide.md)."""
import pytest

from flowimg import Flow, Parameter, Task, task


@task
def two():
    return 2


@task
def pair():
    return {"k": "v", "n": [10, 20]}


@task
def identity(x):
    return x


def test_task_arithmetic_creates_tasks():
    """concepts/tasks.md "Operators": +, -, *, / etc. on tasks create new tasks in the flow."""
    with Flow("o") as flow:
        x = two()
        a, b, c, d, e = x + 1, x - 5, x * 3, x / 4, 10 // x
    state = flow.run()
    assert [state.result[t].result for t in (a, b, c, d, e)] == [3, -3, 6, 0.5, 5]
    assert len(flow.tasks) == 6


def test_comparisons_create_tasks():
    """concepts/tasks.md "Operators": <, <=, >, >= create tasks (== is identity, not a task)."""
    with Flow("o") as flow:
        x = two()
        lt, ge = x < 3, x >= 3
    state = flow.run()
    assert state.result[lt].result is True
    assert state.result[ge].result is False
    assert (x == 3) is False  # a plain bool: == keeps identity semantics


def test_indexing_a_task_creates_a_getitem_task():
    """concepts/tasks.md "Indexing": t["k"] and t[0] become GetItem tasks."""
    with Flow("o") as flow:
        p = pair()
        k = p["k"]
        n1 = p["n"][1]
    state = flow.run()
    assert state.result[k].result == "v"
    assert state.result[n1].result == 20


def test_nout_allows_tuple_unpacking():
    """concepts/tasks.md "Multiple return values": nout=2 lets a call be unpacked into two tasks."""
    @task(nout=2)
    def inc_dec(x):
        return x + 1, x - 1

    with Flow("o") as flow:
        i, d = inc_dec(5)
    state = flow.run()
    assert (state.result[i].result, state.result[d].result) == (6, 4)


def test_unpacking_without_nout_is_a_type_error():
    """concepts/tasks.md: unpacking a task call without nout raises TypeError while building."""
    @task
    def inc_dec(x):
        return x + 1, x - 1

    with pytest.raises(TypeError):
        with Flow("o"):
            a, b = inc_dec(1)


def test_task_args_override_settings_per_call():
    """concepts/tasks.md: task_args=dict(name=...) sets options on the copy made by this call."""
    with Flow("o") as flow:
        r = identity(1, task_args=dict(name="renamed"))
    assert r.name == "renamed"
    assert identity.name == "identity"
    assert flow.run().result[r].result == 1


def test_each_call_is_a_new_task_copy():
    """concepts/tasks.md: calling a task in a flow copies it, so one task can be used twice."""
    with Flow("o") as flow:
        a = identity(1)
        b = identity(2)
    assert a is not b
    state = flow.run()
    assert (state.result[a].result, state.result[b].result) == (1, 2)


def test_uncalled_task_as_argument_becomes_upstream():
    """concepts/flows.md: passing a task object (not called) as an argument adds it to the flow and
    passes its result."""
    with Flow("o") as flow:
        r = identity(two)
    assert two in flow.tasks
    assert flow.run().result[r].result == 2


def test_upstream_tasks_is_a_state_dependency_without_data():
    """concepts/flows.md: upstream_tasks=[...] orders tasks without passing data."""
    order = []

    @task
    def first():
        order.append("first")

    @task
    def second():
        order.append("second")

    with Flow("o") as flow:
        f = first()
        second(upstream_tasks=[f])
    flow.run()
    assert order == ["first", "second"]
    assert len(flow.edges) == 1


def test_calling_a_task_outside_a_flow_is_refused():
    """concepts/tasks.md: a task call needs an active flow context (ValueError otherwise)."""
    with pytest.raises(ValueError):
        identity(1)


class Add(Task):
    def run(self, x, y):
        return x + y


def test_imperative_api_set_dependencies_and_add_edge():
    """concepts/flows.md "Imperative API": add_task, set_dependencies(keyword_tasks=...) and
    add_edge(key=...) wire data without a `with Flow` block."""
    flow = Flow("imperative")
    x = Parameter("x", default=2)
    add = Add()
    double = Add(name="double")
    flow.add_task(x)
    flow.set_dependencies(add, keyword_tasks=dict(x=x, y=x))
    flow.add_edge(add, double, key="x")
    flow.add_edge(add, double, key="y")
    state = flow.run()
    assert state.result[add].result == 4
    assert state.result[double].result == 8
    assert flow.run(x=5).result[double].result == 20


def test_set_upstream_and_set_downstream():
    """concepts/flows.md: task.set_upstream(t, flow=flow, key=...) / set_downstream add edges."""
    flow = Flow("imp")
    a = Add(name="a")
    b = Add(name="b")
    two_t = Parameter("two", default=2)
    a.set_upstream(two_t, flow=flow, key="x")
    a.set_upstream(two_t, flow=flow, key="y")
    two_t.set_downstream(b, flow=flow, key="x")
    b.set_upstream(a, flow=flow, key="y")
    state = flow.run()
    assert state.result[b].result == 6


def test_bind_wires_without_copying():
    """concepts/flows.md: task.bind(...) inside a flow context binds this very task (no copy)."""
    add = Add()
    with Flow("b") as flow:
        out = add.bind(x=1, y=2)
    assert out is add
    assert flow.run().result[add].result == 3


def test_flow_tasks_argument_and_subclass_run():
    """concepts/flows.md: Flow(name, tasks=[...]) holds independent tasks; a Task subclass's run()
    is its body."""
    class Hello(Task):
        def run(self):
            return "hello"

    h = Hello()
    flow = Flow("t", tasks=[h])
    assert flow.run().result[h].result == "hello"


def test_cycle_is_refused():
    """concepts/flows.md: flows are acyclic; flow.validate() raises ValueError on a cycle and
    flow.run() does not run any task of it (its state is Failed)."""
    flow = Flow("cyc")
    a, b = Add(name="a"), Add(name="b")
    flow.add_edge(a, b)
    flow.add_edge(b, a)
    with pytest.raises(ValueError, match="[Cc]ycle"):
        flow.validate()
    state = flow.run()
    assert state.is_failed()


def test_flow_introspection():
    """concepts/flows.md: flow.tasks, edges, root_tasks, terminal_tasks, upstream/downstream_tasks,
    get_tasks(name=...)."""
    with Flow("i") as flow:
        a = two()
        b = identity(a)
    assert flow.root_tasks() == {a}
    assert flow.terminal_tasks() == {b}
    assert flow.upstream_tasks(b) == {a}
    assert flow.downstream_tasks(a) == {b}
    assert flow.get_tasks(name="identity") == [b]
    assert flow.parameters() == set()
