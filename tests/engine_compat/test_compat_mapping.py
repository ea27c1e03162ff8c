"""Mapping facts from the Prefect 1.4.1 docs (docs/core/concepts/mapping.md)."""
from flowimg import Flow, task, unmapped, flatten, apply_map, case
from flowimg.engine import state as st
from flowimg.tasks.control_flow import merge


@task
def numbers():
    return [1, 2, 3]


@task
def inc(x):
    return x + 1


@task
def add(x, y):
    return x + y


@task
def total(xs):
    return sum(xs)


def test_map_runs_one_child_per_element_and_parent_is_mapped():
    """concepts/mapping.md "Simple mapping": the parent is Mapped, its result lists children's results."""
    with Flow("m") as flow:
        r = inc.map(numbers())
    state = flow.run()
    assert state.is_successful()
    parent = state.result[r]
    assert isinstance(parent, st.Mapped)
    assert parent.is_mapped()
    assert parent.result == [2, 3, 4]
    assert [type(c).__name__ for c in parent.map_states] == ["Success"] * 3
    assert [c.result for c in parent.map_states] == [2, 3, 4]


def test_map_over_a_literal_list():
    """concepts/mapping.md: any iterable (a plain list, not only a task result) can be mapped over."""
    with Flow("m") as flow:
        r = inc.map([10, 20])
    assert flow.run().result[r].result == [11, 21]


def test_unmapped_argument_is_passed_whole_to_every_child():
    """concepts/mapping.md "Unmapped inputs": unmapped(x) is passed unchanged to each child."""
    with Flow("m") as flow:
        r = add.map(numbers(), unmapped(10))
    assert flow.run().result[r].result == [11, 12, 13]


def test_reduce_receives_the_list_of_mapped_results():
    """concepts/mapping.md "Reduce": a normal task downstream of a mapped task gets the whole list."""
    with Flow("m") as flow:
        r = total(inc.map(numbers()))
    assert flow.run().result[r].result == 9


def test_mapped_over_mapped_keeps_the_element_pipeline():
    """concepts/mapping.md "Iterated mapping": mapping over a mapped result pairs children by index."""
    with Flow("m") as flow:
        a = inc.map(numbers())
        b = inc.map(a)
    state = flow.run()
    assert state.result[b].result == [3, 4, 5]
    assert len(state.result[b].map_states) == 3


def test_map_two_lists_zips_them():
    """concepts/mapping.md: several mapped arguments are zipped element by element."""
    with Flow("m") as flow:
        r = add.map([1, 2, 3], [10, 20, 30])
    assert flow.run().result[r].result == [11, 22, 33]


def test_empty_map_succeeds_with_no_children():
    """concepts/mapping.md: mapping over an empty list creates zero children; the parent is Mapped."""
    @task
    def nothing():
        return []

    with Flow("m") as flow:
        r = inc.map(nothing())
        s = total(r)
    state = flow.run()
    assert state.is_successful()
    assert isinstance(state.result[r], st.Mapped)
    assert state.result[r].result == []
    assert state.result[r].map_states == []
    assert state.result[s].result == 0


def test_one_failing_child_fails_only_its_own_pipeline():
    """concepts/mapping.md: children run independently; a failed child's downstream child is
    TriggerFailed while its siblings still succeed, and the reduce step is TriggerFailed."""
    @task
    def div(x):
        return 6 // x

    with Flow("m") as flow:
        a = div.map([1, 0, 2])
        b = inc.map(a)
        c = total(b)
    state = flow.run()
    assert state.is_failed()
    assert [type(s).__name__ for s in state.result[a].map_states] == ["Success", "Failed", "Success"]
    assert [type(s).__name__ for s in state.result[b].map_states] == ["Success", "TriggerFailed", "Success"]
    assert state.result[b].map_states[0].result == 7
    assert isinstance(state.result[c], st.TriggerFailed)


def test_flatten_maps_over_the_items_of_nested_lists():
    """concepts/mapping.md "Flat-mapping": flatten() un-nests one level before mapping."""
    @task
    def nested():
        return [[1, 2], [3]]

    with Flow("m") as flow:
        r = inc.map(flatten(nested()))
    assert flow.run().result[r].result == [2, 3, 4]


def test_flatten_of_a_mapped_result_of_lists():
    """concepts/mapping.md "Flat-mapping": flatten over a mapped task whose children return lists."""
    @task
    def upto(n):
        return list(range(n))

    with Flow("m") as flow:
        lists = upto.map([1, 2, 3])
        r = inc.map(flatten(lists))
    assert flow.run().result[r].result == [1, 1, 2, 1, 2, 3]


def test_apply_map_maps_a_whole_function_of_tasks():
    """concepts/mapping.md "Complex mapped pipelines": apply_map runs a function of tasks per element,
    including case blocks inside it."""
    def pipeline(x):
        with case(x > 1, True):
            big = inc(x)
        with case(x > 1, False):
            small = add(x, 100)
        return merge(big, small)

    with Flow("m") as flow:
        out = apply_map(pipeline, [1, 2, 3])
    assert flow.run().result[out].result == [101, 3, 4]


def test_map_over_a_non_iterable_fails_the_task():
    """concepts/mapping.md: mapped arguments must be iterable; a non-iterable upstream result leaves the
    mapped task Failed and the flow Failed (the run itself does not raise)."""
    @task
    def one():
        return 1

    with Flow("m") as flow:
        r = inc.map(one())
    state = flow.run()
    assert state.is_failed()
    assert state.result[r].is_failed()


def test_children_see_their_map_index_in_context():
    """concepts/mapping.md / concepts/execution.md context: each child has context map_index."""
    import flowimg

    @task
    def where(x):
        return flowimg.context.get("map_index"), x

    with Flow("m") as flow:
        r = where.map(["a", "b"])
    assert flow.run().result[r].result == [(0, "a"), (1, "b")]


def test_mapping_with_only_upstream_tasks_maps_over_their_results():
    """concepts/mapping.md: upstream_tasks given to .map() are mapped over too (one child per element)."""
    calls = []

    @task
    def side():
        calls.append(1)

    with Flow("m") as flow:
        r = side.map(upstream_tasks=[numbers])
    state = flow.run()
    assert len(state.result[r].map_states) == 3
    assert len(calls) == 3
