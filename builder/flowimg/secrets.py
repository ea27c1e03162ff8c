"""Resolve a secret *name* to its value at run time; values are never stored anywhere."""
from __future__ import annotations

import json
import os
import stat

from .errors import FlowimgError
from .home import flowimg_home

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional

SECRETS_FILE = "secrets.json"
# Set by a target that mounts a run's secrets as files (Docker Swarm secrets): the runtime reads them
# into its environment, so flows and storages find them exactly as on every other target.
SECRETS_DIR_ENV = "FLOWIMG_SECRETS_DIR"


def secrets_file() -> str:
    return os.path.join(flowimg_home(), SECRETS_FILE)


def _file_secrets() -> Dict[str, str]:
    path = secrets_file()
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return {}
    if not stat.S_ISREG(mode):
        raise FlowimgError(f"secrets file {path} is not a regular file; replace it with a JSON file (mode 600)")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise FlowimgError(
            f"secrets file {path} is readable by others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except ValueError as exc:  # UnicodeDecodeError too
        raise FlowimgError(f"secrets file {path} is not valid JSON ({exc}); fix it") from None
    if not isinstance(data, dict):
        raise FlowimgError(f"secrets file {path} must hold a JSON object of NAME: value")
    wrong = sorted(k for k, v in data.items() if not isinstance(v, str))
    if wrong:
        raise FlowimgError(
            f"secrets file {path}: the value of {', '.join(wrong)} is not a string; write each secret as \"NAME\": \"value\""
        )
    return data


def find_secret(name: str) -> Optional[str]:
    """The environment variable of that name first, then the secrets file."""
    value = os.environ.get(name)
    if value:
        return value
    return _file_secrets().get(name)


def get_secret(name: str) -> str:
    value = find_secret(name)
    if value is None:
        raise FlowimgError(
            f"secret '{name}' not found: set the environment variable {name} "
            f"or add it to {secrets_file()} (mode 600)"
        )
    return value


def secret_environment(names: Iterable[str]) -> Dict[str, str]:
    """The secrets a run needs, as environment for that run only; names that are unset are skipped."""
    env: Dict[str, str] = {}
    for name in names:
        value = find_secret(name)
        if value is not None:
            env[name] = value
    return env


def local_secret_values(values: Iterable[str]) -> List[str]:
    """The given values plus every secret a flow can read on this machine, longest first for `redact`."""
    from .client.secrets import ENV_PREFIXES

    found = set(values) | set(_file_secrets().values())
    found |= {v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    return sorted((v for v in found if v), key=len, reverse=True)


def load_secret_files(folder: Optional[str]) -> None:
    """Each file in `folder` becomes the environment variable of its name, unless that is already set."""
    if not folder:
        return
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise FlowimgError(f"cannot read the run's secrets in {folder} ({exc.strerror}); start the run again") from None
    for name in names:
        path = os.path.join(folder, name)
        if name in os.environ or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as fh:
            os.environ[name] = fh.read()


def redact(text: str, values: Iterable[str]) -> str:
    for value in values:
        if value:
            text = text.replace(value, "***")
    return text
