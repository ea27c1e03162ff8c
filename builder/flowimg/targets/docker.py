"""Runs as containers on the local Docker engine."""
from __future__ import annotations

from ..log import Log
from .base import Launch, Outcome, Target, tail


class DockerTarget(Target):
    name = "docker"

    def launch(self, launch: Launch, log: Log, out: Log) -> Outcome:
        from ..image.engine import Engine

        engine = Engine.shared()
        result = engine.run(launch.image, launch.command, log=log,
                            environment={**launch.environment, **launch.secrets},
                            network_mode=launch.network, volumes=launch.volumes, entrypoint=launch.entrypoint,
                            redact=launch.secrets.values(), out=out, name=launch.name, labels=launch.labels)
        return Outcome(exit_code=result.exit_code, node=engine.node_name(), log_tail=tail(result.output))

    def cancel(self, name: str) -> bool:
        from ..image.engine import Engine

        return Engine.shared().stop_container(name)

    def discard(self, name: str) -> None:
        from ..image.engine import Engine

        Engine.shared().remove_container(name)
