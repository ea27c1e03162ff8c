"""FilterTask: drop items of a (mapped) result, by default the None and exception ones."""
from __future__ import annotations


from ...core.task import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional


class FilterTask(Task):
    def __init__(self, filter_func: Optional[Callable] = None, log_func: Optional[Callable] = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("skip_on_upstream_skip", False)
        if "trigger" not in kwargs:
            from ... import triggers

            kwargs["trigger"] = triggers.all_finished
        self.filter_func = filter_func or (lambda r: r is not None and not isinstance(r, BaseException))
        self.log_func = log_func
        super().__init__(**kwargs)

    def run(self, task_results: Any) -> Any:
        kept = [r for r in task_results if self.filter_func(r)]
        if self.log_func is not None:
            message = self.log_func(kept)
            if message is not None:
                self.logger.info(message)
        return kept
