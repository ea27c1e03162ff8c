"""The flow runner against an executor whose futures resolve only through `wait`, in other threads."""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import cloudpickle

from flowimg import Flow, task
from flowimg.executors import Executor, LocalExecutor
from flowimg.executors.base import resolve_nested


class PoolExecutor(Executor):
    """Like Dask: futures given to submit are resolved in the worker before the call."""

    def __init__(self):
        self.pool = None
        self.contexts = []

    def start(self):
        from contextlib import contextmanager

        @contextmanager
        def running():
            with ThreadPoolExecutor(4) as pool:
                self.pool = pool
                yield
            self.pool = None

        return running()

    def submit(self, fn, *args, extra_context=None, **kwargs):
        self.contexts.append(extra_context)

        def call():
            # Round-trip through cloudpickle, as a process or cluster worker would receive the call.
            resolved = cloudpickle.dumps((fn, self.wait(args), self.wait(kwargs)))
            fn_, args_, kwargs_ = cloudpickle.loads(resolved)
            return fn_(*args_, **kwargs_)

        return self.pool.submit(call)

    def wait(self, futures):
        return resolve_nested(futures, lambda f: f.result(), lambda f: isinstance(f, Future))


def test_mapping_and_reduce_on_a_threaded_executor_with_pickled_calls():
    threads = set()

    @task
    def numbers():
        return list(range(6))

    @task
    def square(x):
        threads.add(threading.current_thread().name)
        return x * x

    @task
    def total(xs):
        return sum(xs)

    with Flow("pool") as flow:
        squares = square.map(numbers())
        result = total(squares)
    executor = PoolExecutor()
    state = flow.run(executor=executor)
    assert state.is_successful()
    assert state.result[result].result == 55
    assert [s.result for s in state.result[squares].map_states] == [0, 1, 4, 9, 16, 25]
    assert threading.main_thread().name not in threads
    assert {"task_name": "square", "task_slug": "square-1", "task_tags": [], "task_index": 5} in executor.contexts


def test_local_executor_is_the_default_and_runs_in_this_thread():
    seen = []

    @task
    def where():
        seen.append(threading.current_thread() is threading.main_thread())

    with Flow("local") as flow:
        where()
    assert flow.run(executor=LocalExecutor()).is_successful()
    assert seen == [True]


def test_flow_executor_attribute_is_used():
    executor = PoolExecutor()

    @task
    def one():
        return 1

    with Flow("attr", executor=executor) as flow:
        out = one()
    assert flow.run().result[out].result == 1
    assert executor.contexts and executor.contexts[0]["task_name"] == "one"
