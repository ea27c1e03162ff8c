"""Dask executors against real Dask: local schedulers and a distributed.LocalCluster on loopback."""
from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlparse
from urllib.request import urlopen

import cloudpickle
import pytest

from flowimg.errors import FlowimgError
from flowimg.executors import DaskExecutor, LocalDaskExecutor
from ports import closed_port

ROOT = Path(__file__).resolve().parents[1]


def inc(x):
    return x + 1


def add(a, b):
    return a + b


def total(values):
    return sum(values["xs"]) + values["y"]


def divide(a, b):
    return a / b


def logged_inc(log, x):
    """inc that appends a line to `log`, so tests count runs across processes."""
    with open(log, "a") as f:
        f.write(f"{x}\n")
    return x + 1


def slow_pid(_):
    time.sleep(0.5)
    return os.getpid()


def meet(barrier):
    """Returns only if another call reaches the barrier at the same time."""
    barrier.wait(timeout=10)
    return threading.get_ident()


def run_graph(executor):
    """submit/wait of plain functions with futures nested in arguments and in the waited value."""
    a = executor.submit(inc, 1, extra_context={"task_name": "inc"})
    b = executor.submit(inc, a, extra_context={"task_name": "inc", "task_index": 3})
    c = executor.submit(add, a, b)
    d = executor.submit(total, {"xs": [a, b, c], "y": 10})
    first = executor.wait(a)
    rest = executor.wait({"c": c, "list": [b, d, 7], "tuple": (a, "x")})
    return first, rest, (a, b)


EXPECTED = (2, {"c": 5, "list": [3, 20, 7], "tuple": (2, "x")})


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(host="127.0.0.1", dashboard_address=None, n_workers=2,
                      threads_per_worker=1, silence_logs=logging.CRITICAL,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as running:
        yield running


@pytest.mark.parametrize("scheduler", ["threads", "processes", "synchronous"])
def test_local_dask_runs_nested_futures_each_task_once(scheduler, tmp_path):
    executor = LocalDaskExecutor(scheduler=scheduler, num_workers=2)
    log = tmp_path / "runs.log"
    with executor.start():
        first, rest, _ = run_graph(executor)
        a = executor.submit(logged_inc, str(log), 1)
        b = executor.submit(logged_inc, str(log), a)
        assert executor.wait(a) == 2
        assert executor.wait([b, {"again": a}]) == [3, {"again": 2}]
        assert executor.wait(b) == 3
    assert (first, rest) == EXPECTED
    assert log.read_text().splitlines() == ["1", "2"]


def test_local_dask_threads_run_at_the_same_time():
    executor = LocalDaskExecutor(scheduler="threads", num_workers=2)
    barrier = threading.Barrier(2)
    with executor.start():
        idents = executor.wait([executor.submit(meet, barrier) for _ in range(2)])
    assert len(set(idents)) == 2 and threading.get_ident() not in idents


def test_local_dask_processes_run_in_other_processes():
    executor = LocalDaskExecutor(scheduler="processes", num_workers=2)
    with executor.start():
        pids = executor.wait([executor.submit(slow_pid, i) for i in range(4)])
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_local_dask_synchronous_runs_in_this_thread():
    executor = LocalDaskExecutor(scheduler="sync")
    with executor.start():
        assert executor.wait(executor.submit(threading.get_ident)) == threading.get_ident()
    assert executor.scheduler == "synchronous"


def test_local_dask_errors_reach_wait_and_the_pool_closes():
    executor = LocalDaskExecutor(scheduler="threads", num_workers=2)
    with executor.start():
        with pytest.raises(ZeroDivisionError):
            executor.wait(executor.submit(divide, 1, 0))
        pool = executor._pool
    assert executor._pool is None and pool._shutdown


def test_dask_executor_on_an_existing_cluster(cluster):
    executor = DaskExecutor(address=cluster.scheduler_address)
    with executor.start():
        first, rest, (a, b) = run_graph(executor)
        assert a.key.startswith("inc-") and b.key.startswith("inc-3-")
        with pytest.raises(ZeroDivisionError):
            executor.wait(executor.submit(divide, 1, 0))
        pids = executor.wait([executor.submit(slow_pid, i) for i in range(4)])
        restored = cloudpickle.loads(cloudpickle.dumps(executor))
    assert (first, rest) == EXPECTED
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert executor.client is None and restored.client is None
    assert restored.address == cluster.scheduler_address


def test_dask_executor_makes_a_temporary_loopback_cluster_and_closes_it():
    before = {p.pid for p in multiprocessing.active_children()}
    executor = DaskExecutor(cluster_kwargs={"n_workers": 1})
    with executor.start():
        info = executor.client.scheduler_info()
        assert executor.wait(executor.submit(inc, executor.submit(inc, 1))) == 3
        http = urlparse(executor.client.dashboard_link)
        assert urlopen(f"http://127.0.0.1:{http.port}/health", timeout=10).read() == b"ok"
        with pytest.raises(HTTPError):
            urlopen(f"http://127.0.0.1:{http.port}/status", timeout=10)
    assert http.hostname == "127.0.0.1" and http.port != 8787
    addresses = [info["address"], *info["workers"]]
    assert len(addresses) == 2
    assert all(urlparse(a).hostname == "127.0.0.1" for a in addresses)
    scheduler = urlparse(info["address"])
    with pytest.raises(OSError):
        socket.create_connection((scheduler.hostname, scheduler.port), timeout=2).close()
    assert executor.client is None
    assert {p.pid for p in multiprocessing.active_children()} <= before


@pytest.mark.parametrize("make, words", [
    (lambda: LocalDaskExecutor(scheduler="gpu"), ["Unknown Dask scheduler 'gpu'", "'threads'"]),
    (lambda: LocalDaskExecutor(num_workers=0), ["num_workers", "at least 1"]),
    (lambda: DaskExecutor(address="tcp://127.0.0.1:1", cluster_kwargs={}), ["not both"]),
    (lambda: LocalDaskExecutor().wait([]), ["outside `with executor.start():`"]),
    (lambda: DaskExecutor().submit(inc, 1), ["outside `with executor.start():`"]),
])
def test_bad_use_is_one_line(make, words):
    with pytest.raises(FlowimgError) as info:
        make()
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_unreachable_scheduler_is_one_line():
    address = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(FlowimgError) as info:
        with DaskExecutor(address=address, client_kwargs={"timeout": 2}).start():
            pass
    message = str(info.value)
    assert message.startswith(f"Cannot reach the Dask scheduler at {address}: ")
    assert message.endswith("check the address and that the scheduler is running")
    assert "\n" not in message


def test_unknown_cluster_class_and_bad_resource_tag(cluster):
    with pytest.raises(FlowimgError, match="full import path"):
        with DaskExecutor(cluster_class="nowhere.Cluster").start():
            pass
    executor = DaskExecutor(address=cluster.scheduler_address)
    with executor.start():
        with pytest.raises(FlowimgError, match="needs a number after '='"):
            executor.submit(inc, 1, extra_context={"task_tags": ["dask-resource:GPU=many"]})


NO_DASK = """
import sys
sys.modules["dask"] = sys.modules["distributed"] = None
from flowimg.errors import FlowimgError
from flowimg.executors import DaskExecutor, LocalDaskExecutor
executors = [LocalDaskExecutor(), DaskExecutor()]
for executor in executors:
    try:
        with executor.start():
            pass
    except FlowimgError as exc:
        print(exc)
"""

DASK_STAYS_UNLOADED = """
import sys
from flowimg.executors import DaskExecutor, LocalDaskExecutor
LocalDaskExecutor(scheduler="processes"), DaskExecutor(address="tcp://127.0.0.1:8786")
print(sorted(m for m in ("dask", "distributed") if m in sys.modules))
"""


def test_dask_is_optional_and_imported_only_when_an_executor_starts():
    def run(script):
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True).stdout.splitlines()

    assert run(NO_DASK) == [
        "This flow's executor needs dask; install the extra: pip install 'flowimg[dask]'",
        "This flow's executor needs distributed; install the extra: pip install 'flowimg[dask]'",
    ]
    assert run(DASK_STAYS_UNLOADED) == ["[]"]


def mapped_flow(log):
    """numbers -> work.map (each run logged to `log`) -> summarize, built with the engine's API."""
    from flowimg import Flow, task, unmapped

    @task
    def numbers(n):
        return list(range(n))

    @task
    def work(x, offset):
        with open(log, "a") as f:
            f.write(f"{x}\n")
        time.sleep(0.3)
        return x + offset, os.getpid()

    @task
    def summarize(results):
        return sum(value for value, _ in results), sorted({pid for _, pid in results})

    with Flow("mapped-over-dask") as flow:
        children = work.map(numbers(6), offset=unmapped(10))
        summary = summarize(children)
    return flow, children, summary


@pytest.mark.parametrize("make", [
    lambda address: DaskExecutor(address=address),
    lambda address: LocalDaskExecutor(scheduler="processes", num_workers=2),
], ids=["dask-cluster", "local-processes"])
def test_mapped_flow_spreads_over_workers(make, cluster, tmp_path):
    pytest.importorskip("flowimg.engine", reason="the flow engine comes from the engine branch")
    log = tmp_path / "runs.log"
    flow, children, summary = mapped_flow(str(log))
    state = flow.run(executor=make(cluster.scheduler_address))
    assert state.is_successful()
    total, pids = state.result[summary].result
    assert total == sum(range(6)) + 6 * 10
    assert len(pids) == 2 and os.getpid() not in pids
    assert [s.result[0] for s in state.result[children].map_states] == [10, 11, 12, 13, 14, 15]
    assert sorted(log.read_text().split()) == ["0", "1", "2", "3", "4", "5"]
