"""The error types the CLI turns into a one-line message and a non-zero exit."""
from __future__ import annotations


class FlowimgError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class MissingModule(FlowimgError):
    """A flow script imports a module that is not installed or not beside it."""


class NotRepresentable(FlowimgError):
    """A value cannot be written into a Dockerfile so that the image holds exactly that value."""
