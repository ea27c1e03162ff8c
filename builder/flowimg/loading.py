"""Load flows from a script (path or text), a module, or pickle bytes.

Shared by register, the in-image runtime and the build health check, so it sticks to the
standard library (cloudpickle is imported only when pickles are made or read).
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import types

from .errors import FlowimgError, MissingModule
from .flow import Flow
from .utilities.context import context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

PICKLE_MAGIC = b"FLOWIMG-PICKLE-1\n"
SCRIPT_MODULE_NAME = "__flowimg_script__"


class NoFlowFound(FlowimgError):
    """A script ran fine but defined no flow (a helper module beside the flows, say)."""


def loading_flows() -> Any:
    """While set, a script's module-level `flow.run()` returns at once instead of running the flow."""
    return context(loading_flow=True)


def _flows_in(namespace: dict) -> Dict[str, Flow]:
    flows: Dict[str, Flow] = {}
    for value in namespace.values():
        if isinstance(value, Flow) and value.name not in flows:
            flows[value.name] = value
    return flows


def _where(exc: BaseException, filename: str) -> str:
    """file:line of the deepest frame in the flow's own file, else the deepest frame."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename == filename] or frames
    return f"{own[-1].filename}:{own[-1].lineno}" if own else filename


def load_script(path: str, text: Optional[str] = None) -> Dict[str, Flow]:
    """Run a flow script (never its `__main__` block) and return its flows by name.

    `path` may be a URL (s3://...) when `text` was fetched from one: it then only names the script.
    """
    is_local = "://" not in path
    if is_local:
        path = os.path.abspath(path)
    if text is None:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise FlowimgError(f"flow script {path} does not exist; check the path") from None
        except OSError as exc:
            raise FlowimgError(f"cannot read flow script {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise FlowimgError(f"flow script {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        code = compile(text, path, "exec")
    except SyntaxError as exc:
        raise FlowimgError(
            f"{path}:{exc.lineno}: SyntaxError: {exc.msg}; fix the flow script"
        ) from None
    module = types.ModuleType(SCRIPT_MODULE_NAME)
    module.__file__ = path
    folder = os.path.dirname(path)
    if is_local and folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        with loading_flows():
            exec(code, module.__dict__)
    except FlowimgError as exc:
        raise FlowimgError(f"{_where(exc, path)}: {exc}") from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        kind = MissingModule if isinstance(exc, ModuleNotFoundError) else FlowimgError
        raise kind(
            f"{_where(exc, path)}: the flow script raised {type(exc).__name__}: {exc}"
        ) from None
    flows = _flows_in(module.__dict__)
    if not flows:
        raise NoFlowFound(f"no flow found in {path}; define one with `with Flow('name') as flow:`")
    return flows


def load_module(name: str) -> Dict[str, Flow]:
    try:
        with loading_flows():
            module = importlib.import_module(name)
    except ImportError as exc:
        raise FlowimgError(f"cannot import module '{name}': {exc}; check the name and sys.path") from None
    flows = _flows_in(vars(module))
    if not flows:
        raise FlowimgError(f"no flow found in module '{name}'")
    return flows


def pick_flow(flows: Dict[str, Flow], name: Optional[str], source: str) -> Flow:
    if name is None:
        if len(flows) == 1:
            return next(iter(flows.values()))
        raise FlowimgError(f"{source} holds several flows ({', '.join(flows)}); name one")
    if name not in flows:
        raise FlowimgError(
            f"no flow named '{name}' in {source}; found: {', '.join(sorted(flows)) or 'none'}"
        )
    return flows[name]


def _versions() -> dict:
    from . import __version__

    return {"python": sys.version.split()[0], "flowimg": __version__}


def flow_to_bytes(flow: Flow) -> bytes:
    """cloudpickle the flow behind a header recording the versions that made it."""
    import cloudpickle

    storage, flow.storage = flow.storage, None
    try:
        payload = cloudpickle.dumps(flow)
    finally:
        flow.storage = storage
    header = dict(_versions(), cloudpickle=cloudpickle.__version__)
    return PICKLE_MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + bytes(payload)


def flow_from_bytes(data: bytes) -> Flow:
    if not data.startswith(PICKLE_MAGIC):
        raise FlowimgError("these bytes are not a flowimg pickle; re-register the flow")
    try:
        header_line, payload = data[len(PICKLE_MAGIC):].split(b"\n", 1)
        made = json.loads(header_line)
        made = {"python": str(made["python"]), "cloudpickle": made["cloudpickle"]}
    except (ValueError, KeyError, TypeError):
        raise FlowimgError("the flowimg pickle's header is damaged; re-register the flow") from None
    here = _versions()
    try:
        import cloudpickle
        here["cloudpickle"] = cloudpickle.__version__
    except ImportError:
        here["cloudpickle"] = None
    py_made = ".".join(made["python"].split(".")[:2])
    py_here = ".".join(here["python"].split(".")[:2])
    if py_made != py_here or made["cloudpickle"] != here["cloudpickle"]:
        raise FlowimgError(
            f"the flow was pickled with Python {made['python']} and cloudpickle {made['cloudpickle']}, "
            f"but this is Python {here['python']} with cloudpickle {here['cloudpickle'] or 'missing'}; "
            "use matching versions or store the flow as a script (stored_as_script=True)"
        )
    import pickle

    try:
        flow = pickle.loads(payload)
    except Exception as exc:
        raise FlowimgError(f"cannot unpickle the flow: {type(exc).__name__}: {exc}") from None
    if not isinstance(flow, Flow):
        raise FlowimgError("the pickle does not hold a flow")
    return flow


def check_flow_name(flow: Flow, name: str, location: str) -> Flow:
    """A pickle must hold the flow it was asked for, not one whose name merely slugs alike."""
    if flow.name != name:
        raise FlowimgError(f"{location} holds flow '{flow.name}', not '{name}'; re-register flow '{name}'")
    return flow
