"""Run configs are kept as data on the flow (`run_config=DockerRun(...)`); flowimg's CLI decides how to run."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict


class RunConfig:
    def __init__(self, **settings: Any) -> None:
        self.settings: Dict[str, Any] = dict(settings)
        for key, value in settings.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {', '.join(sorted(self.settings))}>"


class UniversalRun(RunConfig):
    pass


class LocalRun(RunConfig):
    pass


class DockerRun(RunConfig):
    pass


class KubernetesRun(RunConfig):
    pass


class ECSRun(RunConfig):
    pass


class VertexRun(RunConfig):
    pass


__all__ = ["DockerRun", "ECSRun", "KubernetesRun", "LocalRun", "RunConfig", "UniversalRun", "VertexRun"]
