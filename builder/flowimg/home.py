"""Where flowimg keeps its own state: FLOWIMG_HOME, default ~/.flowimg."""
from __future__ import annotations

import os


def flowimg_home() -> str:
    return os.path.abspath(os.path.expanduser(os.environ.get("FLOWIMG_HOME") or "~/.flowimg"))
