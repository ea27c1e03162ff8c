"""Template tasks: StringFormatter (str.format) and JinjaTemplate (jinja2, loaded when used)."""
from __future__ import annotations

from typing import Any

from .strings import StringFormatter

__all__ = ["JinjaTemplate", "StringFormatter"]


def __getattr__(name: str) -> Any:
    if name == "JinjaTemplate":
        from .jinja2 import JinjaTemplate

        return JinjaTemplate
    raise AttributeError(f"module 'flowimg.tasks.templates' has no attribute '{name}'")
