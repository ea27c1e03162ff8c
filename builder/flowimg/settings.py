"""Project defaults for storage kwargs, from flowimg.yaml or [tool.flowimg] in pyproject.toml."""
from __future__ import annotations

import os
import sys

from .errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

CONFIG_NAMES = ("flowimg.yaml", "flowimg.yml", "pyproject.toml")
PROJECT_MARKERS = ("pyproject.toml", ".git", "flowimg.yaml", "flowimg.yml")


def _read(path: str) -> Optional[Dict[str, Any]]:
    if path.endswith(".toml"):
        if sys.version_info >= (3, 11):
            import tomllib
        else:
            import tomli as tomllib
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise FlowimgError(f"{path} is not valid TOML ({exc}); fix it") from None
        found = data.get("tool", {}).get("flowimg")
        return found if isinstance(found, dict) else None
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise FlowimgError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}); fix it") from None
    if not isinstance(data, dict):
        raise FlowimgError(f"{path} must hold a mapping of setting: value")
    return data


def search_folders(start: str) -> List[str]:
    """The flow's folder and its parents up to the project root (the first folder holding one of
    PROJECT_MARKERS), never above the user's home: a config in a shared parent such as /tmp must
    not reach into a project."""
    folder = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start))
    home = os.path.abspath(os.path.expanduser("~"))
    folders = [folder]
    while not any(os.path.lexists(os.path.join(folder, m)) for m in PROJECT_MARKERS) and folder != home:
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
        folders.append(folder)
    return folders


def _check_owner(path: str) -> None:
    """Someone else's config (another user's file in a shared folder) is refused, as git does."""
    if not hasattr(os, "geteuid"):
        return
    owner = os.stat(path).st_uid
    if owner not in (0, os.geteuid()):
        raise FlowimgError(
            f"{path} belongs to another user (uid {owner}), so flowimg does not read project defaults from it: "
            "remove it, or give your project a pyproject.toml, .git or flowimg.yaml so the search stops there"
        )


def find_defaults(start: str) -> Tuple[Dict[str, Any], str]:
    """The first config found in `search_folders(start)`, keyed by storage kind, and its folder."""
    folders = search_folders(start)
    for folder in folders:
        for name in CONFIG_NAMES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                _check_owner(path)
                data = _read(path)
                if data is not None:
                    return {str(k).lower(): v for k, v in data.items() if isinstance(v, dict)}, folder
    return {}, folders[-1]


# What a setting must be, in words with an example, for the one-line error when it is something else.
SETTING_KINDS = {
    "text": "a string",
    "texts": 'a list of strings, like ["requests==2.31"]',
    "paths": 'a mapping of path: path, like {"/local/flow.py": "/opt/flow.py"}',
    "env": 'a mapping of NAME: value, like {"A": "1"}',
    "mapping": "a mapping of name: value",
    "flag": "true or false",
}


def _fits(value: Any, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "texts":
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return False
    if kind == "paths":
        return all(isinstance(v, str) for v in value.values())
    if kind == "env":
        return all(isinstance(v, (str, int, float)) for v in value.values())
    return True


def check_settings(where: str, values: Dict[str, Any], kinds: Dict[str, str]) -> None:
    """Refuse a setting of the wrong type when it is read, not later as an odd failure (None means unset)."""
    for key, value in values.items():
        if value is not None and key in kinds and not _fits(value, kinds[key]):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise FlowimgError(f"{where}: {key} must be {SETTING_KINDS[kinds[key]]}, not {type(value).__name__} {shown}")
