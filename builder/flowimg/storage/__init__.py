"""Storage kinds, imported lazily so a flow script's `from flowimg.storage import X` stays cheap."""
from __future__ import annotations

import importlib

from ..errors import FlowimgError
from .base import Storage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Type

KINDS = {
    "Local": "local",
    "Docker": "docker",
    "GitHub": "github",
    "GitLab": "gitlab",
    "Bitbucket": "bitbucket",
    "Git": "git",
    "S3": "s3",
    "GCS": "gcs",
}

__all__ = ["Storage", "from_dict", *KINDS]


def storage_class(kind: str) -> Type[Storage]:
    if kind not in KINDS:
        raise FlowimgError(f"unknown storage kind '{kind}'; known: {', '.join(KINDS)}")
    module = importlib.import_module(f"{__name__}.{KINDS[kind]}")
    found: Type[Storage] = getattr(module, kind)
    return found


def from_dict(data: Dict[str, Any]) -> Storage:
    """Rebuild a storage from `Storage.to_dict()` output (the backend's and the manifest's form)."""
    from ..manifest import storage_problem

    problem = storage_problem(data)
    if problem:
        raise FlowimgError(f"the recorded storage is damaged ({problem}); re-register the flow or rebuild the image")
    cls = storage_class(data["kind"])
    try:
        storage = cls.from_settings(data.get("stored_as_script", cls.script_only), data["settings"])
    except (TypeError, ValueError) as exc:
        raise FlowimgError(
            f"the recorded {data['kind']} storage settings do not fit this flowimg ({exc}); "
            "re-register the flow or rebuild the image"
        ) from None
    storage.flows = dict(data["flows"])
    return storage


def __getattr__(name: str) -> Any:
    if name in KINDS:
        return storage_class(name)
    raise AttributeError(name)
