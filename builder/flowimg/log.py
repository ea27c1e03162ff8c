"""The one logging callback type: flowimg reports progress through a plain `print`-like function."""
from __future__ import annotations

from typing import Callable

Log = Callable[[str], None]
