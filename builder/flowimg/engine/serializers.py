"""Serializers turn a task's value into the bytes a Result writes, and back (Prefect's
`prefect.engine.serializers`). Standard library only; cloudpickle is used when installed."""
from __future__ import annotations

import json
from datetime import datetime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional


def _pickler() -> Any:
    try:
        import cloudpickle

        return cloudpickle
    except ImportError:
        import pickle

        return pickle


class Serializer:
    """Subclass and implement `serialize(value) -> bytes` and `deserialize(bytes) -> value`."""

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    __hash__ = object.__hash__

    def serialize(self, value: Any) -> bytes:
        raise NotImplementedError

    def deserialize(self, value: bytes) -> Any:
        raise NotImplementedError


class PickleSerializer(Serializer):
    """The default: cloudpickle (pickle without it)."""

    def serialize(self, value: Any) -> bytes:
        return bytes(_pickler().dumps(value))

    def deserialize(self, value: bytes) -> Any:
        return _pickler().loads(value)


class JSONSerializer(Serializer):
    def serialize(self, value: Any) -> bytes:
        return json.dumps(value).encode()

    def deserialize(self, value: bytes) -> Any:
        return json.loads(value)


class DateTimeSerializer(Serializer):
    """ISO 8601 text; reads back a standard datetime (Prefect's gave a pendulum DateTime)."""

    def serialize(self, value: Any) -> bytes:
        return str(value.isoformat()).encode()

    def deserialize(self, value: bytes) -> Any:
        return datetime.fromisoformat(value.decode())


# CompressedSerializer(format=...) names: module with compress()/decompress().
COMPRESSIONS = ("bz2", "gzip", "lzma", "zlib")


class CompressedSerializer(Serializer):
    """Wraps another serializer: `format` names a standard library compressor, or pass your own
    `compress`/`decompress` functions."""

    def __init__(self, serializer: Serializer, format: Optional[str] = None,
                 compress: Optional[Callable[..., bytes]] = None,
                 decompress: Optional[Callable[..., bytes]] = None,
                 compress_kwargs: Optional[dict] = None, decompress_kwargs: Optional[dict] = None) -> None:
        if format is not None:
            if format not in COMPRESSIONS:
                raise ValueError(f"Unknown compression format {format!r}; use one of {', '.join(COMPRESSIONS)} "
                                 "or pass compress= and decompress= functions")
            import importlib

            module = importlib.import_module(format)
            compress, decompress = module.compress, module.decompress
        if compress is None or decompress is None:
            raise ValueError("CompressedSerializer needs format= or both compress= and decompress=")
        self.serializer = serializer
        self._compress, self._decompress = compress, decompress
        self.compress_kwargs = compress_kwargs or {}
        self.decompress_kwargs = decompress_kwargs or {}

    def serialize(self, value: Any) -> bytes:
        return self._compress(self.serializer.serialize(value), **self.compress_kwargs)

    def deserialize(self, value: bytes) -> Any:
        return self.serializer.deserialize(self._decompress(value, **self.decompress_kwargs))


class CompressedPickleSerializer(CompressedSerializer):
    def __init__(self, format: str = "gzip", **kwargs: Any) -> None:
        super().__init__(PickleSerializer(), format=format, **kwargs)


__all__ = ["Serializer", "PickleSerializer", "JSONSerializer", "DateTimeSerializer", "CompressedSerializer",
           "CompressedPickleSerializer"]
