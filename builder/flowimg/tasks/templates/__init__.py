"""Template tasks: StringFormatter (str.format) and JinjaTemplate (jinja2, loaded when used)."""
from __future__ import annotations


from .strings import StringFormatter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["JinjaTemplate", "StringFormatter"]


def __getattr__(name: str) -> Any:
    if name == "JinjaTemplate":
        from .jinja2 import JinjaTemplate

        return JinjaTemplate
    raise AttributeError(f"module 'flowimg.tasks.templates' has no attribute '{name}'")
