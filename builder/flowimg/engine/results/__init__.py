"""Where task results are kept between runs: `result=LocalResult(dir=...)` with `target=` templates.

As in Prefect 1 run locally, results are only written when checkpointing is on
(FLOWIMG__FLOWS__CHECKPOINTING=true or PREFECT__FLOWS__CHECKPOINTING=true), while a task whose
`target` already exists is not run again: its stored value becomes its result (a Cached state).
"""
from __future__ import annotations

import copy
import json
import os

from ..serializers import PickleSerializer, Serializer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


def checkpointing() -> bool:
    for name in ("FLOWIMG__FLOWS__CHECKPOINTING", "PREFECT__FLOWS__CHECKPOINTING"):
        if os.environ.get(name, "").lower() == "true":
            return True
    return False


class Result:
    """A value and the location it is (or would be) stored at; subclasses say how to store it."""

    def __init__(self, value: Any = None, location: Optional[str] = None,
                 serializer: Optional[Serializer] = None, **kwargs: Any) -> None:
        self.value = value
        self.location = location
        self.serializer = serializer if serializer is not None else PickleSerializer()
        self.options = kwargs

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.location or self.value!r}>"

    def copy(self) -> "Result":
        return copy.copy(self)

    def format(self, **kwargs: Any) -> "Result":
        new = self.copy()
        if isinstance(new.location, str):
            new.location = new.location.format(**kwargs)
        elif callable(new.location):  # `location=fn(**context_and_inputs)` (concepts/templating.md)
            new.location = new.location(**kwargs)
        return new

    def from_value(self, value: Any) -> "Result":
        new = self.copy()
        new.location = None
        new.value = value
        return new

    def exists(self, location: str, **kwargs: Any) -> bool:
        return False

    def read(self, location: str) -> "Result":
        raise NotImplementedError(f"{type(self).__name__} cannot read results in flowimg")

    def write(self, value_: Any, **kwargs: Any) -> "Result":
        new = self.format(**kwargs)
        new.value = value_
        return new


class LocalResult(Result):
    def __init__(self, dir: Optional[str] = None, validate_dir: bool = True, **kwargs: Any) -> None:
        self.dir = os.path.abspath(dir or os.path.join(os.path.expanduser("~"), ".flowimg", "results"))
        super().__init__(**kwargs)

    def _path(self, location: str) -> str:
        return location if os.path.isabs(location) else os.path.join(self.dir, location)

    def exists(self, location: str, **kwargs: Any) -> bool:
        return os.path.exists(self._path(location.format(**kwargs)))

    def read(self, location: str) -> Result:
        new = self.copy()
        new.location = location
        with open(self._path(location), "rb") as fh:
            new.value = self.serializer.deserialize(fh.read())
        return new

    def write(self, value_: Any, **kwargs: Any) -> Result:
        new = self.format(**kwargs)
        if new.location is None:
            import uuid

            new.location = str(uuid.uuid4()) + ".prefect_result"
        path = self._path(new.location)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(self.serializer.serialize(value_))
        new.value = value_
        new.location = path
        return new


class PrefectResult(Result):
    """Stores the value as JSON in the location string itself."""

    def exists(self, location: str, **kwargs: Any) -> bool:
        return True

    def read(self, location: str) -> Result:
        new = self.copy()
        new.location = location
        new.value = json.loads(location)
        return new

    def write(self, value_: Any, **kwargs: Any) -> Result:
        new = self.copy()
        new.value = value_
        new.location = json.dumps(value_)
        return new


class ConstantResult(Result):
    pass


class SecretResult(Result):
    pass


class _RemoteResult(Result):
    """Cloud results are accepted as settings; flowimg writes no checkpoints to them."""

    def __init__(self, bucket: Optional[str] = None, **kwargs: Any) -> None:
        self.bucket = bucket
        super().__init__(**{k: v for k, v in kwargs.items() if k in ("value", "location", "serializer")})


class S3Result(_RemoteResult):
    pass


class GCSResult(_RemoteResult):
    pass


class AzureResult(_RemoteResult):
    pass


__all__ = ["Result", "LocalResult", "PrefectResult", "ConstantResult", "SecretResult", "S3Result", "GCSResult",
           "AzureResult", "checkpointing"]
