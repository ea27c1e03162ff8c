"""Flows kept on this machine: a script path, or a content-addressed pickle under FLOWIMG_HOME."""
from __future__ import annotations

import hashlib
import os
import re

from ..errors import FlowimgError
from ..flow import Flow
from ..home import flowimg_home
from ..loading import check_flow_name, flow_from_bytes, flow_to_bytes, load_script, pick_flow
from .base import Storage, _quiet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log
    from typing import Any, Dict, Optional


class Local(Storage):
    kind = "Local"

    def __init__(self, path: Optional[str] = None, directory: Optional[str] = None,
                 stored_as_script: bool = False) -> None:
        from ..settings import check_settings

        check_settings("Local storage", {"path": path, "directory": directory, "stored_as_script": stored_as_script},
                       {"path": "text", "directory": "text", "stored_as_script": "flag"})
        super().__init__(stored_as_script)
        self.path = os.path.abspath(path) if path else None
        self.directory = os.path.abspath(directory) if directory else None
        self._pickles: Dict[str, bytes] = {}

    def location_for(self, flow: Flow, script_path: Optional[str]) -> str:
        if self.stored_as_script:
            location = self.path or (os.path.abspath(script_path) if script_path else None)
            if not location:
                raise FlowimgError(
                    f"Local storage of flow '{flow.name}' has stored_as_script=True but no path; "
                    "pass path='/abs/flow.py' or register it with -p FILE"
                )
            return location
        data = flow_to_bytes(flow)
        folder = self.directory or os.path.join(flowimg_home(), "flows")
        location = os.path.join(folder, _folder_name(flow.name), hashlib.sha256(data).hexdigest()[:20] + ".flowpickle")
        self._pickles[location] = data
        return location

    def build(self, push: bool = True, log: Log = _quiet) -> None:
        for location in self.flows.values():
            if self.stored_as_script:
                if not os.path.isfile(location):
                    raise FlowimgError(f"flow script {location} does not exist; check Local(path=...)")
                continue
            data = self._pickles.get(location)
            if data is not None and not os.path.exists(location):
                os.makedirs(os.path.dirname(location), exist_ok=True)
                tmp = f"{location}.{os.getpid()}.tmp"
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, location)

    def get_flow(self, flow_name: str, log: Log = _quiet) -> Flow:
        location = self._flow_location(flow_name)
        if self.stored_as_script:
            return pick_flow(load_script(location), flow_name, location)
        try:
            with open(location, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise FlowimgError(f"pickled flow {location} is gone; re-register flow '{flow_name}'") from None
        except OSError as exc:
            raise FlowimgError(f"cannot read pickled flow {location} ({exc.strerror}); re-register flow '{flow_name}'") from None
        if not os.path.basename(location).startswith(hashlib.sha256(data).hexdigest()[:20] + "."):
            raise FlowimgError(f"pickled flow {location} was changed after registration; re-register flow '{flow_name}'")
        return check_flow_name(flow_from_bytes(data), flow_name, location)

    def settings(self) -> Dict[str, Any]:
        return {"path": self.path, "directory": self.directory}


def _folder_name(flow_name: str) -> str:
    """The flow's name when it is a plain file name, else a slug plus a hash: never a path out of the folder."""
    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_ .-]*", flow_name) and flow_name.strip(". ") == flow_name:
        return flow_name
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", flow_name).strip("-.") or "flow"
    return f"{slug}-{hashlib.sha256(flow_name.encode('utf-8')).hexdigest()[:12]}"
