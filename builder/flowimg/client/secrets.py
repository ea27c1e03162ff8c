"""Local secrets: `flowimg.context.secrets` or FLOWIMG__CONTEXT__SECRETS__<NAME> (PREFECT__... also read)."""
from __future__ import annotations

import json
import os

from ..utilities.context import context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Environment variables that hold local secrets, by prefix (Prefect 1's spelling is read too).
ENV_PREFIXES = ("FLOWIMG__CONTEXT__SECRETS__", "PREFECT__CONTEXT__SECRETS__")


class Secret:
    def __init__(self, name: str) -> None:
        self.name = name

    def exists(self) -> bool:
        try:
            self.get()
        except ValueError:
            return False
        return True

    def get(self) -> Any:
        secrets = context.get("secrets") or {}
        if self.name in secrets:
            return secrets[self.name]
        for prefix in ENV_PREFIXES:
            raw = os.environ.get(prefix + self.name)
            if raw is not None:
                try:
                    return json.loads(raw)
                except ValueError:
                    return raw
        # Prefect's exact words (they end up in task state messages); the module docstring says where
        # secrets come from.
        raise ValueError(f'Local Secret "{self.name}" was not found.')
