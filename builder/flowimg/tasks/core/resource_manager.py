"""`@resource_manager`: setup/cleanup tasks around a block of tasks (a temporary cluster, a container).

Inside `with Resource(...) as resource:` tasks get the setup task upstream and the cleanup task
downstream; cleanup runs when setup succeeded, whatever the block's tasks did, and it never
decides the flow's state.
"""
from __future__ import annotations


from ...core.task import Task
from ...engine import signals
from ...utilities.context import context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Set


class ResourceInitTask(Task):
    """Makes the manager object (runs the decorated class's __init__)."""

    not_a_reference = True

    def __init__(self, resource_class: Callable, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = resource_class  # type: ignore[method-assign]


class ResourceSetupTask(Task):
    def run(self, mgr: Any) -> Any:
        return mgr.setup()


class ResourceCleanupTask(Task):
    not_a_reference = True
    cleans_up = True

    def run(self, mgr: Any, resource: Any = None) -> None:
        mgr.cleanup(resource)


def resource_cleanup_trigger(upstream_states: Dict[Any, Any]) -> bool:
    for edge, state in upstream_states.items():
        if not state.is_finished():
            raise signals.TRIGGERFAIL(
                "Trigger was 'resource_cleanup_trigger' but some of the upstream tasks were not finished.")
        what = {"mgr": "init", "resource": "setup"}.get(edge.key)
        if what is not None and state.is_skipped():
            raise signals.SKIP(f"Resource manager {what} skipped")
        if what is not None and not state.is_successful():
            raise signals.SKIP(f"Resource manager {what} failed")
    return True


class ResourceContext:
    def __init__(self, init_task: Task, setup_task: Optional[Task], cleanup_task: Task, flow: Any) -> None:
        self.init_task = init_task
        self.setup_task = setup_task
        self.cleanup_task = cleanup_task
        self._flow = flow
        self._tasks: Set[Task] = set()
        self._order: list = []
        self._previous: Any = None

    def add_task(self, task: Task, flow: Any) -> None:
        if self._flow is not flow:
            raise ValueError("Multiple flows cannot be used with the same resource block")
        if task not in self._tasks:
            self._tasks.add(task)
            self._order.append(task)

    def __enter__(self) -> Optional[Task]:
        self._previous = context.get("resource")
        context.update(resource=self)
        return self.setup_task

    def __exit__(self, *exc: Any) -> None:
        if self._previous is None:
            context.pop("resource", None)
        else:
            context.update(resource=self._previous)
        for child in self._order:
            upstream = self._flow.upstream_tasks(child)
            if self.setup_task is not None and not self._tasks & upstream and self.setup_task not in upstream:
                child.set_upstream(self.setup_task, flow=self._flow)
            downstream = self._flow.downstream_tasks(child)
            if not self._tasks & downstream and self.cleanup_task not in downstream:
                child.set_downstream(self.cleanup_task, flow=self._flow)


class ResourceManager:
    def __init__(self, resource_class: Callable, name: Optional[str] = None, init_task_kwargs: Optional[dict] = None,
                 setup_task_kwargs: Optional[dict] = None, cleanup_task_kwargs: Optional[dict] = None) -> None:
        self.resource_class = resource_class
        self.name = name or getattr(resource_class, "__name__", "resource")
        self.init_task_kwargs = dict(init_task_kwargs or {}, name=self.name)
        self.setup_task_kwargs = {"name": f"{self.name}.setup", "checkpoint": False, **(setup_task_kwargs or {})}
        self.cleanup_task_kwargs = {"name": f"{self.name}.cleanup", "trigger": resource_cleanup_trigger,
                                    "skip_on_upstream_skip": False, "checkpoint": False,
                                    **(cleanup_task_kwargs or {})}

    def __call__(self, *args: Any, flow: Any = None, **kwargs: Any) -> ResourceContext:
        flow = flow or context.get("flow")
        if flow is None:
            raise ValueError("Could not infer an active Flow context.")
        init = ResourceInitTask(self.resource_class, **self.init_task_kwargs)(*args, flow=flow, **kwargs)
        setup = None
        if hasattr(self.resource_class, "setup"):
            setup = ResourceSetupTask(**self.setup_task_kwargs)(init, flow=flow)
            cleanup = ResourceCleanupTask(**self.cleanup_task_kwargs)(init, setup, flow=flow)
        else:
            cleanup = ResourceCleanupTask(**self.cleanup_task_kwargs)(init, flow=flow)
        return ResourceContext(init, setup, cleanup, flow)


def resource_manager(resource_class: Optional[Callable] = None, *, name: Optional[str] = None,
                     init_task_kwargs: Optional[dict] = None, setup_task_kwargs: Optional[dict] = None,
                     cleanup_task_kwargs: Optional[dict] = None) -> Any:
    def wrap(cls: Callable) -> ResourceManager:
        return ResourceManager(cls, name=name, init_task_kwargs=init_task_kwargs,
                               setup_task_kwargs=setup_task_kwargs, cleanup_task_kwargs=cleanup_task_kwargs)

    return wrap if resource_class is None else wrap(resource_class)


__all__ = ["ResourceManager", "resource_manager"]
