"""Project defaults for storage kwargs, from flowimg.yaml or [tool.flowimg] in pyproject.toml."""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, Optional, Tuple

from .errors import FlowimgError

CONFIG_NAMES = ("flowimg.yaml", "flowimg.yml", "pyproject.toml")


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
        return data.get("tool", {}).get("flowimg")
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise FlowimgError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}); fix it") from None
    if not isinstance(data, dict):
        raise FlowimgError(f"{path} must hold a mapping of setting: value")
    return data


def find_defaults(start: str) -> Tuple[Dict[str, Any], str]:
    """The first config found walking up from `start`, keyed by storage kind, and its folder."""
    folder = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start))
    while True:
        for name in CONFIG_NAMES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                data = _read(path)
                if data is not None:
                    return {str(k).lower(): v for k, v in data.items() if isinstance(v, dict)}, folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return {}, folder
        folder = parent
