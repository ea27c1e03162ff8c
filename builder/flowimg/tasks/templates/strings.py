"""StringFormatter: `template.format(...)` with the run context and the task's inputs."""
from __future__ import annotations


from ...core.task import Task
from ...utilities.context import context
from ...utilities.tasks import defaults_from_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


class StringFormatter(Task):
    def __init__(self, template: Optional[str] = None, **kwargs: Any) -> None:
        self.template = template or ""
        super().__init__(**kwargs)

    @defaults_from_attrs("template")
    def run(self, template: Optional[str] = None, **format_kwargs: Any) -> str:
        with context(**format_kwargs) as data:
            return (template or "").format(**data.to_dict())
