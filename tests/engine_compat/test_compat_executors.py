"""Executors (docs/core/concepts/execution.md "Executors", tutorial/06-parallel-execution.md)."""
from flowimg import Flow, task
from flowimg.executors import LocalDaskExecutor, LocalExecutor


@task
def inc(x):
    return x + 1


@task
def total(xs):
    return sum(xs)


def test_local_dask_executor_gives_the_same_results():
    """concepts/execution.md "Executors": LocalDaskExecutor (threads) runs mapped tasks in parallel
    with the same results and states as the LocalExecutor."""
    with Flow("ex") as flow:
        r = total(inc.map([1, 2, 3]))
    assert flow.run(executor=LocalExecutor()).result[r].result == 9
    state = flow.run(executor=LocalDaskExecutor(scheduler="threads"))
    assert state.is_successful()
    assert state.result[r].result == 9


def test_flow_executor_attribute_is_used_by_run():
    """concepts/execution.md: Flow(executor=...) sets the default executor of flow.run()."""
    with Flow("ex", executor=LocalDaskExecutor()) as flow:
        r = inc.map([1, 2])
    assert flow.run().result[r].result == [2, 3]


def test_local_dask_executor_with_processes():
    """concepts/execution.md: LocalDaskExecutor(scheduler="processes") runs tasks in worker processes."""
    with Flow("ex") as flow:
        r = total(inc.map([1, 2, 3]))
    assert flow.run(executor=LocalDaskExecutor(scheduler="processes")).result[r].result == 9


def test_dask_executor_on_a_loopback_local_cluster():
    """tutorial/06-parallel-execution.md: DaskExecutor with cluster_kwargs starts a temporary
    distributed LocalCluster for the run (here with in-process workers: dask's inproc transport, dashboard on loopback)."""
    from flowimg.executors import DaskExecutor

    ex = DaskExecutor(cluster_kwargs={"n_workers": 1, "processes": False,
                                      "dashboard_address": "127.0.0.1:0"})
    with Flow("ex") as flow:
        r = total(inc.map([1, 2, 3]))
    state = flow.run(executor=ex)
    assert state.is_successful()
    assert state.result[r].result == 9
