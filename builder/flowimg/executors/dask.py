"""Dask executors (Prefect 1's): a local Dask scheduler, or a Dask cluster (temporary or existing).

Dask is an optional extra (`pip install 'flowimg[dask]'`); it is imported when an executor starts
or submits, never when this module or a flow script that names these executors is loaded.
"""
from __future__ import annotations

import importlib
import logging
import multiprocessing
import uuid
from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Dict, Iterator, Optional, Union, cast

from ..errors import FlowimgError
from .base import Executor

INSTALL_HINT = "install the extra: pip install 'flowimg[dask]'"
SCHEDULERS = {"threads": "threads", "threading": "threads", "processes": "processes",
              "multiprocessing": "processes", "synchronous": "synchronous",
              "sync": "synchronous", "single-threaded": "synchronous"}
# A temporary LocalCluster stays on loopback, without a dashboard, and small.
LOCAL_CLUSTER_DEFAULTS = {"host": "127.0.0.1", "dashboard_address": None, "n_workers": 2,
                          "threads_per_worker": 1}
# The scheduler still serves /health and metrics over HTTP: on loopback, on a free port
# (its default, 8787, is often taken).
LOCAL_SCHEDULER_DEFAULTS = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}


def _dask(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise FlowimgError(f"This flow's executor needs {module.split('.')[0]}; "
                           f"{INSTALL_HINT}") from None


def _task_key(extra_context: Optional[dict]) -> Optional[str]:
    """A unique Dask key that names the task (and map index) in Dask's logs and dashboard."""
    extra = extra_context or {}
    name = extra.get("task_name")
    if not name:
        return None
    index = extra.get("task_index")
    middle = "" if index is None else f"-{index}"
    return f"{name}{middle}-{uuid.uuid4().hex}"


class LocalDaskExecutor(Executor):
    """Runs tasks with one of Dask's local schedulers: "threads" (default), "processes" or
    "synchronous". Submitted calls are lazy; `wait` computes them, each at most once per run."""

    def __init__(self, scheduler: str = "threads", num_workers: Optional[int] = None,
                 **dask_config: Any) -> None:
        normal = SCHEDULERS.get(str(scheduler).lower())
        if normal is None:
            raise FlowimgError(f"Unknown Dask scheduler {scheduler!r}; use 'threads', "
                               "'processes' or 'synchronous'")
        if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 1):
            raise FlowimgError(f"num_workers must be a whole number of at least 1, "
                               f"got {num_workers!r}")
        self.scheduler = normal
        self.num_workers = num_workers
        self.dask_config = dask_config
        self._pool: Any = None
        self._kept: Any = None

    def __getstate__(self) -> Dict[str, Any]:
        return dict(self.__dict__, _pool=None, _kept=None)

    @contextmanager
    def start(self) -> Iterator[None]:
        dask_config = _dask("dask.config")
        from dask.system import CPU_COUNT

        with dask_config.set(self.dask_config):
            workers = self.num_workers or dask_config.get("num_workers", None) or CPU_COUNT
            self._pool = _make_pool(self.scheduler, workers)
            self._kept = _kept_results_callback()
            finished = False
            try:
                yield
                finished = True
            finally:
                if self._pool is not None:
                    self._pool.shutdown(wait=finished, cancel_futures=not finished)
                self._pool = self._kept = None

    def submit(self, fn: Callable, *args: Any, extra_context: Optional[dict] = None,
               **kwargs: Any) -> Any:
        dask = _dask("dask")
        key = _task_key(extra_context)
        if key is not None:
            kwargs["dask_key_name"] = key
        return dask.delayed(fn, pure=False)(*args, **kwargs)

    def wait(self, futures: Any) -> Any:
        if self._kept is None:
            raise FlowimgError("LocalDaskExecutor.wait() was called outside `with executor"
                               ".start():`; start the executor first")
        dask = _dask("dask")
        return dask.compute(futures, scheduler=self._get, optimize_graph=False,
                            callbacks=(self._kept._callback,))[0]

    def _get(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        if self.scheduler == "threads":
            from dask.threaded import get

            return get(dsk, keys, pool=self._pool, **kwargs)
        if self.scheduler == "processes":
            from dask.multiprocessing import get as get_in_processes

            # One task per dispatch and no task fusion, so keys stay the ones submit made.
            return get_in_processes(dsk, keys, pool=self._pool, optimize_graph=False, chunksize=1, **kwargs)
        from dask.local import get_sync

        return get_sync(dsk, keys, **kwargs)


def _make_pool(scheduler: str, workers: int) -> Any:
    if scheduler == "threads":
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(workers)
    if scheduler == "processes":
        from concurrent.futures import ProcessPoolExecutor

        # fork keeps the flow script's module (loaded by path) importable in the workers.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        return ProcessPoolExecutor(workers, mp_context=context)
    return None


def _kept_results_callback() -> Any:
    """A Dask callback that remembers every computed key, so a later `wait` on work that
    depends on it reuses the value instead of running the task again."""
    from dask.callbacks import Callback

    try:
        from dask._task_spec import DataNode
        data_node: Optional[Callable[..., Any]] = DataNode
    except ImportError:  # dask before the task-spec graphs (2024.x) takes plain values
        data_node = None

    class KeptResults(Callback):
        def __init__(self) -> None:
            super().__init__()
            self.results: Dict[Any, Any] = {}

        def _start(self, dsk: Any) -> None:
            for key in set(dsk) & set(self.results):
                value = self.results[key]
                dsk[key] = value if data_node is None else data_node(key, value)

        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            self.results[key] = result

    return KeptResults()


class DaskExecutor(Executor):
    """Runs tasks on a Dask cluster: the scheduler at `address`, or else a temporary cluster of
    `cluster_class` (default `distributed.LocalCluster`, on 127.0.0.1 with no dashboard) made
    for the flow run and closed after it."""

    def __init__(self, address: Optional[str] = None,
                 cluster_class: Union[str, Callable, None] = None,
                 cluster_kwargs: Optional[dict] = None, adapt_kwargs: Optional[dict] = None,
                 client_kwargs: Optional[dict] = None, debug: bool = False,
                 performance_report_path: Optional[str] = None) -> None:
        if address is not None and (cluster_class is not None or cluster_kwargs is not None):
            raise FlowimgError("DaskExecutor takes either `address` (an existing cluster) or "
                               "`cluster_class`/`cluster_kwargs` (a temporary one), not both")
        self.address = address
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.adapt_kwargs = dict(adapt_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self.client_kwargs.setdefault("set_as_default", False)
        self.debug = debug
        self.performance_report_path = performance_report_path
        self.client: Any = None
        self.logger = logging.getLogger("flowimg.DaskExecutor")

    def __getstate__(self) -> Dict[str, Any]:
        return dict(self.__dict__, client=None)

    @contextmanager
    def start(self) -> Iterator[None]:
        distributed = _dask("distributed")
        with ExitStack() as stack:
            if self.address is not None:
                self.logger.info("Connecting to an existing Dask cluster at %s", self.address)
                target: Any = self.address
            else:
                cluster_class = self._cluster_class(distributed)
                self.logger.info("Creating a new Dask cluster with `%s.%s`...",
                                 cluster_class.__module__, cluster_class.__qualname__)
                target = stack.enter_context(cluster_class(**self._cluster_kwargs(
                    cluster_class, distributed)))
                if self.adapt_kwargs:
                    target.adapt(**self.adapt_kwargs)
            try:
                client = distributed.Client(target, **self.client_kwargs)
            except OSError as exc:
                raise FlowimgError(f"Cannot reach the Dask scheduler at {self.address}: {exc}; "
                                   "check the address and that the scheduler is running") from None
            self.client = stack.enter_context(client)
            if self.performance_report_path:
                stack.enter_context(distributed.performance_report(self.performance_report_path))
            try:
                yield
            finally:
                self.client = None

    def _cluster_class(self, distributed: Any) -> Callable:
        if self.cluster_class is None:
            return cast(Callable, distributed.LocalCluster)
        if callable(self.cluster_class):
            return self.cluster_class
        module, _, name = str(self.cluster_class).rpartition(".")
        try:
            return cast(Callable, getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError, ValueError):
            raise FlowimgError(f"Cannot import the Dask cluster class {self.cluster_class!r}; "
                               "give its full import path, e.g. 'distributed.LocalCluster'") from None

    def _cluster_kwargs(self, cluster_class: Callable, distributed: Any) -> Dict[str, Any]:
        kwargs = dict(self.cluster_kwargs)
        if cluster_class is distributed.LocalCluster:
            for key, value in LOCAL_CLUSTER_DEFAULTS.items():
                if key == "host" and kwargs.get("processes") is False:
                    continue  # in-process workers talk over dask's inproc transport, which takes no host
                kwargs.setdefault(key, value)
            kwargs["scheduler_kwargs"] = dict(LOCAL_SCHEDULER_DEFAULTS,
                                              **kwargs.get("scheduler_kwargs") or {})
            kwargs.setdefault("silence_logs", logging.WARNING if self.debug else logging.CRITICAL)
        return kwargs

    def submit(self, fn: Callable, *args: Any, extra_context: Optional[dict] = None,
               **kwargs: Any) -> Any:
        client = self._started()
        options: Dict[str, Any] = {"pure": False}
        key = _task_key(extra_context)
        if key is not None:
            options["key"] = key
        resources = _resources((extra_context or {}).get("task_tags", ()))
        if resources:
            options["resources"] = resources
        return client.submit(fn, *args, **kwargs, **options)

    def wait(self, futures: Any) -> Any:
        return self._started().gather(futures)

    def _started(self) -> Any:
        if self.client is None:
            raise FlowimgError("DaskExecutor was used outside `with executor.start():`; "
                               "start the executor first")
        return self.client


def _resources(tags: Any) -> Dict[str, float]:
    """Task tags "dask-resource:GPU=1" become Dask worker resources {"GPU": 1.0}."""
    resources = {}
    for tag in tags:
        if str(tag).lower().startswith("dask-resource:") and "=" in tag:
            name, _, amount = tag.split(":", 1)[1].partition("=")
            try:
                resources[name] = float(amount)
            except ValueError:
                raise FlowimgError(f"Task tag {tag!r} needs a number after '=', "
                                   "e.g. 'dask-resource:GPU=1'") from None
    return resources
