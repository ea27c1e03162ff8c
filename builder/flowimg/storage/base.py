"""The one interface every storage honours, so callers never ask which storage they hold."""
from __future__ import annotations

from abc import ABC, abstractmethod


from ..digests import sha256_hex
from ..errors import FlowimgError
from ..flow import Flow

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log
    from typing import Any, Dict, List, Optional


def _quiet(_: str) -> None:
    pass


class Storage(ABC):
    """Where a flow lives between registration and run.

    `flows` maps each flow name to its location inside the storage (a path, a key...).
    `settings()` returns only what is needed to find the flows again and never a secret value:
    it is what the backend compares to decide whether a registration is new.
    """

    kind = "Storage"
    script_only = False

    def __init__(self, stored_as_script: bool = False) -> None:
        if self.script_only and stored_as_script is False:
            raise FlowimgError(
                f"{self.kind} storage only stores flows as scripts; drop stored_as_script=False"
            )
        self.stored_as_script = True if self.script_only else bool(stored_as_script)
        self.flows: Dict[str, str] = {}
        self._flow_objects: Dict[str, Flow] = {}

    @classmethod
    def from_settings(cls, stored_as_script: bool, settings: Dict[str, Any]) -> "Storage":
        """The storage `settings()` describes (the backend's and the manifest's form)."""
        return cls(stored_as_script=stored_as_script, **settings)

    def add_flow(self, flow: Flow, script_path: Optional[str] = None) -> str:
        """Record the flow (a later flow of the same name replaces it); `script_path` is its local file."""
        location = self.location_for(flow, script_path)
        self.flows[flow.name] = location
        self._flow_objects[flow.name] = flow
        return location

    @abstractmethod
    def location_for(self, flow: Flow, script_path: Optional[str]) -> str:
        raise NotImplementedError

    def build(self, push: bool = True, log: Log = _quiet) -> None:
        """Make the flows available where they will be run from (upload, build an image...);
        an optional hook: storages whose flows are already in place do nothing."""
        return None

    @abstractmethod
    def get_flow(self, flow_name: str, log: Log = _quiet) -> Flow:
        raise NotImplementedError

    def pin(self, log: Log = _quiet) -> None:
        """Fix a moving reference (a branch) to what it points at now; `register --pin` calls it.
        An optional hook: storages with nothing moving do nothing."""
        return None

    @abstractmethod
    def settings(self) -> Dict[str, Any]:
        raise NotImplementedError

    def earlier_settings(self) -> List[Dict[str, Any]]:
        """`settings()` as older flowimg versions recorded them for this same storage: a registration
        equal to one of those is unchanged, so upgrading flowimg alone makes no new version."""
        return []

    def secret_names(self) -> List[str]:
        """Names (never values) of the secrets a run must be given."""
        return []

    def run_image(self) -> Optional[str]:
        """The image a run of this storage's flows must happen in, if any."""
        return None

    def built_image(self) -> Optional[str]:
        """The image the last `build` made, as precisely as it is known (by digest when pushed so)."""
        return self.run_image()

    def plan(self) -> Optional[Dict[str, Any]]:
        """What `build` would make (image, Dockerfile, context files), for storages that build images."""
        return None

    def image_requirements(self) -> List[str]:
        """Python distributions the runtime needs in an image to fetch from this storage."""
        return []

    def to_dict(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "stored_as_script": self.stored_as_script,
            "settings": self.settings(),
            "flows": dict(sorted(self.flows.items())),
        }

    def describe(self) -> str:
        return self.kind

    def __repr__(self) -> str:
        return f"<{self.kind} storage: {', '.join(self.flows) or 'no flows'}>"

    def _flow_location(self, flow_name: str) -> str:
        if flow_name not in self.flows:
            raise FlowimgError(
                f"{self.kind} storage holds no flow named '{flow_name}'; "
                f"it holds: {', '.join(sorted(self.flows)) or 'none'}"
            )
        return self.flows[flow_name]


def script_sha256(text: str) -> str:
    return sha256_hex(text.encode("utf-8"))
