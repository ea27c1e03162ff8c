"""The Docker engine through docker-py: build, push, run, inspect. Errors in streams become FlowimgError."""
from __future__ import annotations

import codecs
import os
from collections import deque
from dataclasses import dataclass

from ..errors import FlowimgError
from ..log import Log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, IO, Iterable, List, Optional

TAIL_LINES = 8


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str


def _engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


class LineStream:
    """Whole lines only, so a line (or a secret in it) split across chunks is seen, and redacted, whole."""

    def __init__(self, sink: Log, secrets: List[str], output: List[str]) -> None:
        self.sink, self.secrets, self.output = sink, secrets, output
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""

    def feed(self, raw: bytes) -> None:
        lines = (self.pending + self.decoder.decode(raw)).split("\n")
        self.pending = lines.pop()
        for line in lines:
            self._emit(line)

    def close(self) -> None:
        rest = self.pending + self.decoder.decode(b"", final=True)
        if rest:
            self._emit(rest)

    def _emit(self, line: str) -> None:
        for secret in self.secrets:
            line = line.replace(secret, "***")
        self.output.append(line + "\n")
        self.sink(line)


class Engine:
    """One connection to the engine; created only when a command needs it, so imports stay cheap."""

    _shared: Optional["Engine"] = None

    @classmethod
    def shared(cls) -> "Engine":
        """The process's engine, so a login done once serves every later push."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def __init__(self, client: Any = None) -> None:
        if client is None:
            import docker

            try:
                client = docker.from_env(timeout=600)
                client.ping()
            except Exception as exc:
                reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                raise FlowimgError(
                    f"no Docker engine answers at {_engine_address()} ({reason}); start Docker "
                    "(`make services` here) or set DOCKER_HOST"
                ) from None
        self.client = client
        self.api = client.api

    def build(self, context: IO[bytes], tag: str, log: Log,
              network_mode: str = "none", **kwargs: Any) -> str:
        """Stream the build log; on an error report the failing step's last lines, leave no containers."""
        import docker.errors

        tail: deque = deque(maxlen=TAIL_LINES)
        step = ""
        image_id: Optional[str] = None
        try:
            stream = self.api.build(
                fileobj=context, custom_context=True, encoding="gzip", tag=tag,
                rm=True, forcerm=True, decode=True, network_mode=network_mode, **kwargs,
            )
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    message = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error", "")
                    lines = " | ".join(line for line in tail if line)
                    raise FlowimgError(
                        f"image build failed at {step or 'the first step'}: {message.strip()}"
                        + (f" (last output: {lines})" if lines else "")
                    )
                text = chunk.get("stream", "")
                for line in text.splitlines():
                    if line.startswith("Step "):
                        step = line.strip()
                        tail.clear()
                    elif line.strip():
                        tail.append(line.strip()[:200])
                    if line.strip():
                        log(line.rstrip() if len(line) <= 160 else line[:157].rstrip() + "...")
                aux = chunk.get("aux") or {}
                image_id = aux.get("ID", image_id)
        except docker.errors.APIError as exc:
            raise FlowimgError(f"the engine refused the build: {exc.explanation or exc}") from None
        if image_id is None:
            image_id = self.client.images.get(tag).id
        return image_id

    def push(self, reference: str, log: Log) -> str:
        """Push with progress; docker-py does not raise errors inside the stream, so look for them."""
        import docker.errors

        repository, tag = reference.rsplit(":", 1)
        digest = ""
        last_status: Dict[str, str] = {}
        try:
            for chunk in self.api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in chunk or "errorDetail" in chunk:
                    message = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error", "")
                    raise FlowimgError(
                        f"push of {reference} failed: {message.strip()}; check that the registry is up "
                        "and accepts you (flowimg build --registry-username ... --password-stdin)"
                    )
                status = chunk.get("status", "")
                layer = chunk.get("id", "")
                if status and last_status.get(layer) != status and "progress" not in chunk:
                    last_status[layer] = status
                    log(f"{layer}: {status}" if layer else status)
                digest = (chunk.get("aux") or {}).get("Digest", digest)
        except docker.errors.APIError as exc:
            raise FlowimgError(f"push of {reference} failed: {exc.explanation or exc}") from None
        return digest

    def login(self, registry: Optional[str], username: str, password: str) -> None:
        """Kept in this client only: nothing is written to the Docker config. None is Docker Hub."""
        import docker.errors

        try:
            self.client.login(username=username, password=password, registry=registry, reauth=True)
        except docker.errors.APIError as exc:
            reason = str(exc.explanation or exc).replace(password, "***")
            raise FlowimgError(f"login to {registry or 'Docker Hub'} as {username} failed: {reason}") from None

    def image_id(self, reference: str) -> Optional[str]:
        import docker.errors

        try:
            return str(self.client.images.get(reference).id)
        except docker.errors.ImageNotFound:
            return None

    def pull(self, reference: str, auth: Optional[Dict[str, str]] = None) -> None:
        import docker.errors

        from .reference import parse_reference

        found = parse_reference(reference)
        try:
            self.client.images.pull(found.repository, tag=found.digest or found.tag or "latest", auth_config=auth)
        except docker.errors.APIError as exc:
            raise FlowimgError(
                f"image {reference} is not here and cannot be pulled: {exc.explanation or exc}; "
                "build it with `flowimg build`"
            ) from None

    def load(self, archive: bytes) -> None:
        """`docker load` of a docker-save tarball (the registry builder's --load)."""
        import docker.errors

        try:
            self.client.images.load(archive)
        except docker.errors.APIError as exc:
            raise FlowimgError(f"the engine refused to load the image: {exc.explanation or exc}") from None

    def config(self, reference: str) -> Dict[str, Any]:
        """The image's Config; pulls only when missing, like `docker run --pull missing`, so a local
        rebuild is never replaced."""
        import docker.errors

        try:
            image = self.client.images.get(reference)
        except docker.errors.ImageNotFound:
            self.pull(reference)
            image = self.client.images.get(reference)
        return dict(image.attrs.get("Config") or {})

    def labels(self, reference: str) -> Dict[str, str]:
        return dict(self.config(reference).get("Labels") or {})

    def working_dir(self, reference: str) -> str:
        """The image's WorkingDir, `/` when it sets none (Docker's default)."""
        return self.config(reference).get("WorkingDir") or "/"

    def node_name(self) -> str:
        """The engine's host name, recorded as where a run ran."""
        return str(self.client.info().get("Name") or "")

    def stop_container(self, name: str) -> bool:
        """Stop a run's container; its own `run` call then sees the exit and removes it."""
        return self._on_container(name, "stop", lambda c: c.stop(timeout=10))

    def remove_container(self, name: str) -> bool:
        """Remove a container in whatever state: a run whose launcher died cannot remove its own."""
        return self._on_container(name, "remove", lambda c: c.remove(force=True))

    def _on_container(self, name: str, doing: str, action: Callable[[Any], Any]) -> bool:
        """False when no container has that name."""
        import docker.errors

        try:
            action(self.client.containers.get(name))
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            raise FlowimgError(f"the engine could not {doing} {name}: {exc.explanation or exc}") from None
        return True

    def remove_image(self, image_id: str) -> None:
        import docker.errors

        try:
            self.client.images.remove(image_id, force=True, noprune=False)
        except docker.errors.APIError:
            pass

    def run(self, image: str, command: List[str], log: Log, environment: Optional[Dict[str, str]] = None,
            network_mode: str = "none", user: Optional[str] = None, volumes: Optional[Dict[str, Any]] = None,
            entrypoint: Optional[List[str]] = None, redact: Iterable[str] = (), out: Optional[Log] = None,
            name: Optional[str] = None, labels: Optional[Dict[str, str]] = None) -> RunResult:
        """Run to completion streaming stdout to `out` and stderr to `log`; always remove the container."""
        import docker.errors

        secrets = [v for v in redact if v]
        out = out or log
        container = None
        try:
            container = self.client.containers.create(
                image, command=command, environment=environment or {}, network_mode=network_mode,
                user=user, volumes=volumes or {}, entrypoint=entrypoint, detach=True,
                name=name, labels=labels or {},
            )
            stream = self.api.attach(container.id, stream=True, logs=True, demux=True)
            container.start()
            output: List[str] = []
            streams = (LineStream(out, secrets, output), LineStream(log, secrets, output))
            for chunks in stream:
                for raw, lines in zip(chunks, streams):
                    if raw:
                        lines.feed(raw)
            for lines in streams:
                lines.close()
            exit_code = container.wait().get("StatusCode", 1)
            return RunResult(exit_code=exit_code, output="".join(output))
        except docker.errors.ImageNotFound:
            raise FlowimgError(f"image {image} not found; build it with `flowimg build`") from None
        except docker.errors.APIError as exc:
            raise FlowimgError(f"the engine could not run {image}: {exc.explanation or exc}") from None
        finally:
            if container is not None:
                try:
                    container.remove(force=True)
                except docker.errors.APIError:
                    pass

