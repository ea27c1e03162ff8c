"""Structure hashes of flows registered before the engine rewrite must not move.

The goldens were printed by the first engine's `Flow.structure()` / `structure_hash()` (main at
17966ac) for these very flows.
"""
from __future__ import annotations

import datetime

from flowimg import Flow, Parameter, case, task, unmapped
from flowimg.flow import describe_structure_change

SEED = {"tasks": [{"slug": "get_data-1", "name": "get_data", "kind": "task"},
                  {"slug": "print_data-1", "name": "print_data", "kind": "task"}],
        "edges": [["get_data-1", "print_data-1", "0"]]}
SEED_HASH = "b99aaa5b0ceb97a626b542d3567613a907d5817484b2ce3007e84a34cc12e464"
NESTED = {"tasks": [{"slug": "x", "name": "x", "kind": "parameter"}, {"slug": "p", "name": "p", "kind": "parameter"},
                    {"slug": "add-1", "name": "add", "kind": "task"}, {"slug": "add-2", "name": "add", "kind": "task"},
                    {"slug": "print_data-1", "name": "print_data", "kind": "task"}],
          "edges": [["x", "add-1", "0"], ["p", "add-1", "y"], ["add-1", "add-2", "0"], ["add-1", "add-2", "1"],
                    ["x", "add-2", "1"], ["add-2", "print_data-1", "0"]]}
NESTED_HASH = "3705d704ef4b0758522633110f05013f736ec5fb2bf6bc11794d22e8c0ea5d52"


@task
def get_data():
    return [1]


@task
def print_data(data):
    print(data)


@task(name="add")
def add(x, y):
    return x


def seed_flow():
    with Flow("example") as flow:
        print_data(get_data())
    return flow


def nested_flow():
    p = Parameter("p", default=1)
    with Flow("f2") as flow:
        x = Parameter("x", default=2)
        a = add(x, y=p)
        b = add(a, [a, {"k": x}])
        print_data(b)
    return flow


def test_old_flows_keep_their_exact_structure_and_hash():
    assert seed_flow().structure() == SEED
    assert seed_flow().structure_hash() == SEED_HASH
    assert nested_flow().structure() == NESTED
    assert nested_flow().structure_hash() == NESTED_HASH


def test_keyword_order_is_the_call_order_as_before():
    @task
    def two(a, b):
        return a

    with Flow("k") as flow:
        one = get_data()
        other = get_data()
        two(b=one, a=other)
    assert flow.structure()["edges"] == [["get_data-1", "two-1", "b"], ["get_data-2", "two-1", "a"]]


def test_remapping_changes_the_hash_and_says_so():
    @task
    def inc(x, step):
        return x + step

    with Flow("m") as plain:
        inc(get_data(), 1)
    with Flow("m") as mapped:
        inc.map(get_data(), unmapped(1))
    assert plain.structure_hash() != mapped.structure_hash()
    assert describe_structure_change(plain.structure(), mapped.structure()) == [
        "edge added: get_data-1 -> inc-1 (mapped)", "edge removed: get_data-1 -> inc-1"]


def test_changing_a_case_branch_changes_the_hash():
    def build(value):
        with Flow("c") as flow:
            data = get_data()
            with case(data, value):
                print_data(data)
        return flow

    assert build(True).structure_hash() != build(False).structure_hash()


def test_a_schedule_is_structure_only_when_present():
    class Every:
        def __init__(self, seconds):
            self.clocks = [seconds]
            self.seconds = seconds

        def to_dict(self):
            return {"type": "interval", "seconds": self.seconds}

        def next(self, n, return_events=False):
            return [datetime.datetime.now(datetime.timezone.utc)] * n

    flow = seed_flow()
    assert "schedule" not in flow.structure()
    flow.schedule = Every(60)
    assert flow.structure()["schedule"] == {"type": "interval", "seconds": 60}
    other = seed_flow()
    other.schedule = Every(30)
    assert flow.structure_hash() != other.structure_hash()
    assert describe_structure_change(flow.structure(), other.structure()) == ["schedule changed"]



def test_a_flow_pickled_by_the_first_engine_asks_to_be_registered_again():
    import pickle

    import pytest

    from flowimg.errors import FlowimgError

    # What the first engine's pickles hold: flowimg.flow.Node objects with a plain __dict__.
    old_node = (b"ccopy_reg\n_reconstructor\n(cflowimg.flow\nNode\nc__builtin__\nobject\nNtR"
                b"(dVslug\nVget_data-1\nsb.")
    with pytest.raises(FlowimgError, match="register it again"):
        pickle.loads(old_node)
