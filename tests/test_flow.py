"""The flow API and the structure hash: task bodies never count, structure always does."""
from __future__ import annotations

import pytest

from flowimg import Flow, FlowimgError, Parameter, task
from flowimg.flow import describe_structure_change


def make(body=lambda: [1, 2, 3], names=("get_data", "print_data"), extra=False):
    first = task(body, name=names[0])
    second = task(lambda data: sum(data), name=names[1])
    with Flow("example") as flow:
        data = first()
        second(data)
        if extra:
            second(data)
    return flow


def by_slug(flow, state):
    return {flow.slugs[t]: s.result for t, s in state.result.items()}


def test_run_passes_results_in_dependency_order():
    flow = make()
    state = flow.run()
    assert state.is_successful()
    assert by_slug(flow, state) == {"get_data-1": [1, 2, 3], "print_data-1": 6}


def test_task_body_edit_keeps_the_structure_hash():
    assert make(lambda: [1]).structure_hash() == make(lambda: [9, 9]).structure_hash()


@pytest.mark.parametrize("changed, words", [
    (dict(names=("get_data", "show")), "task renamed: 'print_data-1' -> 'show-1'"),
    (dict(extra=True), "task added: 'print_data-2'"),
])
def test_structure_changes_change_the_hash_and_are_named(changed, words):
    before, after = make(), make(**changed)
    assert before.structure_hash() != after.structure_hash()
    assert words in describe_structure_change(before.structure(), after.structure())


def test_reordering_and_edges_are_structure():
    a, b = task(lambda: 1, name="a"), task(lambda x=None: 2, name="b")
    with Flow("f") as one:
        a()
        b()
    with Flow("f") as two:
        b()
        a()
    with Flow("f") as three:
        b(a())
    assert len({one.structure_hash(), two.structure_hash(), three.structure_hash()}) == 3
    assert describe_structure_change(one.structure(), two.structure()) == ["tasks reordered: b-1, a-1"]
    assert describe_structure_change(one.structure(), three.structure()) == ["edge added: a-1 -> b-1"]


def test_parameters_defaults_and_required():
    add = task(lambda x, y: x + y, name="add")
    with Flow("p") as flow:
        x = Parameter("x", default=2)
        y = Parameter("y")
        total = add(x, y=y)
    assert flow.parameter_defaults() == {"x": 2, "y": None}
    assert {p.name for p in flow.parameters()} == {"x", "y"}
    assert flow.run({"y": 3}).result[total].result == 5
    assert flow.run(y=4).result[total].result == 6
    with pytest.raises(FlowimgError, match="needs parameter 'y'"):
        flow.run({})
    with pytest.raises(FlowimgError, match="has no parameter z"):
        flow.run({"y": 1, "z": 1})


def test_a_parameter_made_outside_the_flow_joins_it_once():
    p = Parameter("p", default=1)
    inc = task(lambda v: v + 1, name="inc")
    with Flow("f") as flow:
        inc(p)
        inc(p)
    assert [t["slug"] for t in flow.structure()["tasks"]] == ["p", "inc-1", "inc-2"]


def test_a_failing_task_fails_the_flow_state_and_names_the_task():
    from flowimg.core.running import failure_summary

    def boom():
        raise ValueError("no data")

    with Flow("f") as flow:
        task(boom)()
    state = flow.run()
    assert state.is_failed()
    assert failure_summary(flow, state) == (
        "flow 'f' failed: task 'boom-1': Error during execution of task: ValueError('no data')")


def test_calling_a_task_outside_a_flow_is_a_clear_error():
    with pytest.raises(FlowimgError, match="outside a flow"):
        task(lambda: 1, name="t")()
