"""A plain function's parameters, read from its code object, to check a task call without inspect.

Importing inspect (with ast, dis and tokenize) is a tenth of a warm build, and every flow script makes
and calls tasks. A plain function or method (no positional-only parameters, no `__wrapped__` or
`__signature__`) holds its parameters in its code object. For anything else, and to word an error,
core/task.py asks inspect, so every message is still inspect's.
"""
from __future__ import annotations

import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Collection, Optional, Tuple

_VARARGS, _VARKEYWORDS = 0x04, 0x08  # inspect.CO_VARARGS, inspect.CO_VARKEYWORDS
NO_ANNOTATION = object()


class CallShape:
    """The parameters in inspect's order: positional, *args, keyword-only, **kwargs."""

    __slots__ = ("names", "positional", "keyword_only", "required", "var_positional", "var_keyword",
                 "return_annotation")

    def __init__(self, positional: Tuple[str, ...], keyword_only: Tuple[str, ...], required: Tuple[str, ...],
                 var_positional: Optional[str], var_keyword: Optional[str], return_annotation: Any) -> None:
        self.positional, self.keyword_only, self.required = positional, keyword_only, required
        self.var_positional, self.var_keyword, self.return_annotation = var_positional, var_keyword, return_annotation
        self.names = positional + ((var_positional,) if var_positional else ()) + keyword_only + (
            (var_keyword,) if var_keyword else ())

    def binds(self, count: int, keywords: Collection[str]) -> bool:
        """True only when inspect's Signature.bind accepts `count` positional arguments and these keywords."""
        if count > len(self.positional) and self.var_positional is None:
            return False
        taken = self.positional[:count]
        named = self.positional + self.keyword_only
        for name in keywords:
            if name in taken or (name not in named and self.var_keyword is None):
                return False
        return all(name in taken or name in keywords for name in self.required)


def call_shape(fn: Any) -> Optional[CallShape]:
    """The shape of a plain function or of a method of one, else None (inspect then decides)."""
    drop = 0
    if isinstance(fn, types.MethodType):
        fn, drop = fn.__func__, 1
    if type(fn) is not types.FunctionType or hasattr(fn, "__wrapped__") or hasattr(fn, "__signature__"):
        return None
    code = fn.__code__
    if getattr(code, "co_posonlyargcount", 0) or code.co_argcount < drop:  # the attribute is 3.8+
        return None
    names, count, kw_count = code.co_varnames, code.co_argcount, code.co_kwonlyargcount
    positional = names[drop:count]
    keyword_only = names[count:count + kw_count]
    at = count + kw_count
    var_positional = names[at] if code.co_flags & _VARARGS else None
    at += 1 if var_positional else 0
    var_keyword = names[at] if code.co_flags & _VARKEYWORDS else None
    defaults = len(fn.__defaults__ or ())
    kw_defaults = fn.__kwdefaults__ or {}
    required = positional[:max(len(positional) - defaults, 0)] + tuple(n for n in keyword_only if n not in kw_defaults)
    return CallShape(positional, keyword_only, required, var_positional, var_keyword,
                     fn.__annotations__.get("return", NO_ANNOTATION))
