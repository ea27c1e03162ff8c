"""Secret tasks: their result is the secret's value (never logged)."""
from __future__ import annotations

import os

from ..client.secrets import Secret
from ..core.task import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


class SecretBase(Task):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("checkpoint", False)
        super().__init__(**kwargs)


class PrefectSecret(SecretBase):
    def __init__(self, name: Optional[str] = None, **kwargs: Any) -> None:
        self.secret_name = name
        kwargs.setdefault("name", name)
        super().__init__(**kwargs)

    def run(self, name: Optional[str] = None) -> Any:
        name = name or self.secret_name
        if name is None:
            raise ValueError("A secret name must be provided.")
        return Secret(name).get()


class EnvVarSecret(SecretBase):
    def __init__(self, name: Optional[str] = None, cast: Any = None, raise_if_missing: bool = False,
                 **kwargs: Any) -> None:
        self.var_name = name
        self.cast = cast
        self.raise_if_missing = raise_if_missing
        kwargs.setdefault("name", name)
        super().__init__(**kwargs)

    def run(self, name: Optional[str] = None) -> Any:
        name = name or self.var_name
        if self.raise_if_missing and name not in os.environ:
            raise ValueError(f"Environment variable not set: {name}")
        value = os.environ.get(name) if name else None
        return self.cast(value) if value is not None and self.cast is not None else value


__all__ = ["EnvVarSecret", "PrefectSecret", "SecretBase"]
