"""The one error type the CLI turns into a one-line message and a non-zero exit."""
from __future__ import annotations


class FlowimgError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""
