"""JinjaTemplate: render a Jinja template with the run context and the task's inputs."""
from __future__ import annotations


from ...core.task import Task
from ...utilities.context import context
from ...utilities.tasks import defaults_from_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


class JinjaTemplate(Task):
    def __init__(self, template: Optional[str] = None, **kwargs: Any) -> None:
        self.template = template or ""
        super().__init__(**kwargs)

    @defaults_from_attrs("template")
    def run(self, template: Optional[str] = None, **format_kwargs: Any) -> str:
        try:
            from jinja2 import Template
        except ImportError:
            from ...errors import FlowimgError

            raise FlowimgError("JinjaTemplate needs jinja2 where the flow runs; pip install jinja2") from None
        with context(**format_kwargs) as data:
            return str(Template(template or "").render(**data.to_dict()))
