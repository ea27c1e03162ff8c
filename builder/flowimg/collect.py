"""Find flows in files, folders, globs and modules; shared by build, plan and register."""
from __future__ import annotations

import glob
import os

from .errors import FlowimgError
from .flow import Flow
from .loading import NoFlowFound, load_module, load_script
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional, Tuple


class FoundFlow(Record):
    __slots__ = ("flow", "source", "script_path")
    flow: Flow
    source: str                 # what the user named, for messages
    script_path: Optional[str]  # the local script, when the flow came from one

    def __init__(self, flow: Flow, source: str, script_path: Optional[str]) -> None:
        self.flow, self.source, self.script_path = flow, source, script_path


def expand_paths(paths: Iterable[str]) -> List[str]:
    """Files as given, folders as their *.py files (sorted), globs expanded; a miss is an error."""
    scripts: List[str] = []
    for given in paths:
        if os.path.isdir(given):
            found = sorted(glob.glob(os.path.join(given, "**", "*.py"), recursive=True))
        elif os.path.isfile(given):
            found = [given]
        else:
            found = sorted(p for p in glob.glob(given, recursive=True) if os.path.isfile(p))
            if not found:
                raise FlowimgError(f"path '{given}' does not exist; give a flow file, a folder or a glob")
        scripts += [p for p in found if p not in scripts]
    return scripts


def collect(paths: Iterable[str] = (), modules: Iterable[str] = (), names: Iterable[str] = (),
            ) -> Tuple[List[FoundFlow], Dict[str, str]]:
    """Flows found, and per source the error that kept it from loading."""
    found: List[FoundFlow] = []
    errors: Dict[str, str] = {}
    paths = list(paths)
    named = {p for p in paths if os.path.isfile(p)}
    for script in expand_paths(paths):
        try:
            flows = load_script(script)
        except NoFlowFound:
            if script in named:
                errors[script] = f"no flow found in {script}; define one with `with Flow('name') as flow:`"
            continue
        except FlowimgError as exc:
            errors[script] = str(exc)
            continue
        found += [FoundFlow(f, script, os.path.abspath(script)) for f in flows.values()]
    for module in modules:
        try:
            flows = load_module(module)
        except FlowimgError as exc:
            errors[module] = str(exc)
            continue
        found += [FoundFlow(f, module, None) for f in flows.values()]
    wanted = list(names)
    if wanted:
        missing = [n for n in wanted if n not in {f.flow.name for f in found}]
        if missing and not errors:
            raise FlowimgError(
                f"no flow named {', '.join(repr(n) for n in missing)}; found: "
                f"{', '.join(sorted({f.flow.name for f in found})) or 'none'}"
            )
        found = [f for f in found if f.flow.name in wanted]
    if not found and not errors:
        raise FlowimgError("no flows found in the given paths; define one with `with Flow('name') as flow:`")
    _refuse_duplicates(found)
    return found, errors


def _refuse_duplicates(found: List[FoundFlow]) -> None:
    """Two sources defining one flow name would overwrite each other; refuse before doing anything."""
    first: Dict[str, str] = {}
    for item in found:
        seen = first.setdefault(item.flow.name, item.source)
        if seen != item.source:
            raise FlowimgError(
                f"two flows are named '{item.flow.name}' ({seen} and {item.source}); rename one, "
                "or register them with -n to pick one"
            )

