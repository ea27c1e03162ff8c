"""Where a flow run's container starts. `flowimg run --on` and agents pick a target by name only."""
from __future__ import annotations

from ..errors import FlowimgError
from .base import Launch, Outcome, Target

TARGETS = ("docker", "swarm")


def get_target(name: str) -> Target:
    if name == "docker":
        from .docker import DockerTarget

        return DockerTarget()
    if name == "swarm":
        from .swarm import SwarmTarget

        return SwarmTarget()
    raise FlowimgError(f"unknown target '{name}'; use one of: {', '.join(TARGETS)}")


__all__ = ["Launch", "Outcome", "Target", "TARGETS", "get_target"]
