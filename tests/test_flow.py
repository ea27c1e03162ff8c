"""The flow API and the structure hash: task bodies never count, structure always does."""
from __future__ import annotations

import pytest

from flowimg import Flow, FlowimgError, Parameter, task
from flowimg.flow import FlowRunError, describe_structure_change


def make(body=lambda: [1, 2, 3], names=("get_data", "print_data"), extra=False):
    first = task(body, name=names[0])
    second = task(lambda data: sum(data), name=names[1])
    with Flow("example") as flow:
        data = first()
        second(data)
        if extra:
            second(data)
    return flow


def test_run_passes_results_in_dependency_order():
    results = make().run(log=lambda _: None)
    assert results == {"get_data-1": [1, 2, 3], "print_data-1": 6}


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
    a, b = task(lambda: 1, name="a"), task(lambda: 2, name="b")
    with Flow("f") as one:
        a(); b()
    with Flow("f") as two:
        b(); a()
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
        add(x, y=y)
    assert flow.parameters() == {"x": 2, "y": None}
    assert flow.run({"y": 3}, log=lambda _: None)["add-1"] == 5
    with pytest.raises(FlowimgError, match="needs parameter 'y'"):
        flow.run({}, log=lambda _: None)
    with pytest.raises(FlowimgError, match="has no parameter z"):
        flow.run({"y": 1, "z": 1}, log=lambda _: None)


def test_a_parameter_made_outside_the_flow_joins_it_once():
    p = Parameter("p", default=1)
    inc = task(lambda v: v + 1, name="inc")
    with Flow("f") as flow:
        inc(p)
        inc(p)
    assert [t["slug"] for t in flow.structure()["tasks"]] == ["p", "inc-1", "inc-2"]


def test_a_failing_task_fails_the_run_with_its_name():
    def boom():
        raise ValueError("no data")

    with Flow("f") as flow:
        task(boom)()
    with pytest.raises(FlowRunError, match=r"task 'boom-1' of flow 'f' failed: ValueError: no data"):
        flow.run(log=lambda _: None)


def test_calling_a_task_outside_a_flow_is_a_clear_error():
    with pytest.raises(FlowimgError, match="outside a flow"):
        task(lambda: 1, name="t")()
