"""Runs as Docker Swarm replicated jobs: one task, never restarted, on the host network, removed after.

Secrets go in as Swarm secrets made for the one job, not as environment on the service spec: their
values then never show in `docker service inspect` or the container's config, are kept encrypted by
the managers and reach only the node that runs the task. The runtime reads the mounted files into its
environment (FLOWIMG_SECRETS_DIR), so flows find them as on every other target.
"""
from __future__ import annotations

import socket
import struct
import threading
import time

from ..deadline import seconds_from_env
from ..errors import FlowimgError
from ..log import Log
from ..secrets import SECRETS_DIR_ENV
from .base import Launch, Outcome, Target, tail

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Tuple

SECRETS_DIR = "/run/secrets"
POLL_SECONDS = 0.3
# Swarm keeps a task no node can take (platform, constraints, resources) pending for ever: give up after this.
PENDING_ENV = "FLOWIMG_SWARM_PENDING_TIMEOUT"
PENDING_SECONDS = 60.0
# What a run stopped by `cancel` reports: the exit of a container stopped by SIGTERM, as on `docker stop`.
CANCELLED_EXIT = 143
ENDED = ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")
SERVICE_LABEL = "com.docker.swarm.service.id"
FENCE_LABEL = "org.flowimg.removed-job"  # no node carries it: a fenced job's tasks are never placed
INIT_HINT = "run `docker swarm init --advertise-addr 127.0.0.1` there, or run with --on docker"


class SwarmTarget(Target):
    name = "swarm"
    networks = ("host",)  # Swarm attaches a service to no local network but host; no overlay here

    def launch(self, launch: Launch, log: Log, out: Log) -> Outcome:
        from ..image.engine import Engine

        pending_limit = seconds_from_env(PENDING_ENV, PENDING_SECONDS)
        engine = Engine.shared()
        _require_manager(engine.client.info())
        api = engine.api
        secret_ids: List[str] = []
        service_id: Optional[str] = None
        logs: Optional[_Logs] = None
        task: Optional[Dict[str, Any]] = None
        try:
            references = [_create_secret(api, launch, index, key, value, secret_ids)
                          for index, (key, value) in enumerate(sorted(launch.secrets.items()))]
            service_id = _create_service(api, launch, references)
            log(f"Swarm job {launch.name} from {launch.image}")
            logs = _Logs(api, service_id, out, log, list(launch.secrets.values()))
            task = _wait(api, service_id, launch.name, pending_limit)
            logs.finish()
            return _outcome(api, launch, task, logs.output)
        finally:
            if logs is not None:
                logs.stop()
            if service_id is not None:
                if task is None:  # timed out, interrupted or cancelled: its task may not have started
                    _fence(api, service_id)
                _remove_service(engine, service_id)
            for secret_id in secret_ids:
                _remove_secret(api, secret_id)

    def cancel(self, name: str) -> bool:
        import docker.errors

        from ..image.engine import Engine

        try:
            _fence(Engine.shared().api, name)
            Engine.shared().api.remove_service(name)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            raise FlowimgError(f"the Swarm manager could not remove {name}: {exc.explanation or exc}") from None
        return True


def _require_manager(info: Dict[str, Any]) -> None:
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        raise FlowimgError(f"the Docker engine on {info.get('Name') or 'this host'} is not in a swarm; {INIT_HINT}")
    if not swarm.get("ControlAvailable"):
        raise FlowimgError(f"the Docker engine on {info.get('Name') or 'this host'} is a swarm worker, not a "
                           "manager; point DOCKER_HOST at a manager, or run with --on docker")


def _create_secret(api: Any, launch: Launch, index: int, key: str, value: str, made: List[str]) -> Any:
    """A secret named after the run (Swarm names are global), mounted as a file named like the variable."""
    import docker.errors
    from docker.types import SecretReference

    name = f"{launch.name}-secret-{index}"
    try:
        secret_id = api.create_secret(name, value.encode("utf-8"), labels={"org.flowimg.run": launch.name})["ID"]
    except docker.errors.APIError as exc:
        raise FlowimgError(f"the Swarm manager refused the secret {key} for {launch.name}: "
                           f"{exc.explanation or exc}") from None
    made.append(secret_id)
    return SecretReference(secret_id, name, filename=key)


def _create_service(api: Any, launch: Launch, secrets: List[Any]) -> str:
    import docker.errors
    from docker.types import (ContainerSpec, Mount, NetworkAttachmentConfig, RestartPolicy, ServiceMode,
                              TaskTemplate)

    environment = dict(launch.environment)
    if secrets:
        environment[SECRETS_DIR_ENV] = SECRETS_DIR
    mounts = [Mount(target=bind["bind"], source=source, type="bind", read_only=bind.get("mode") == "ro")
              for source, bind in (launch.volumes or {}).items()]
    if launch.entrypoint:
        command, args = launch.entrypoint, launch.command
    else:
        command, args = None, launch.command
    container = ContainerSpec(launch.image, command=command, args=args, env=environment, labels=launch.labels,
                              mounts=mounts, secrets=secrets or None)
    template = TaskTemplate(container, restart_policy=RestartPolicy(condition="none"),
                            networks=[NetworkAttachmentConfig(launch.network)])
    try:
        created = api.create_service(template, name=launch.name, labels=launch.labels,
                                     mode=ServiceMode("replicated-job", replicas=1))
    except docker.errors.APIError as exc:
        raise FlowimgError(f"the Swarm manager refused the job {launch.name}: {exc.explanation or exc}") from None
    return str(created["ID"])


def _wait(api: Any, service_id: str, name: str, pending_limit: float) -> Optional[Dict[str, Any]]:
    """The job's task once it has ended; None when the job was removed under us (cancelled). A task that no
    node has taken for `pending_limit` seconds is an error with the scheduler's reason."""
    import docker.errors

    unplaced_since = None
    while True:
        try:
            tasks = api.tasks(filters={"service": service_id})
        except docker.errors.NotFound:
            return None
        if not tasks and not _service_exists(api, service_id):
            return None
        for task in tasks:
            if task.get("Status", {}).get("State") in ENDED:
                return dict(task)
        reasons = [status["Err"] for status in (task.get("Status") or {} for task in tasks)
                   if status.get("State") == "pending" and status.get("Err")]
        unplaced_since = (unplaced_since or time.monotonic()) if reasons else None
        if unplaced_since is not None and time.monotonic() - unplaced_since > pending_limit:
            raise FlowimgError(f"no Swarm node took the job {name} within {pending_limit:g} s: {reasons[0]}; make a "
                               f"node fit it (platform, constraints, resources) or raise {PENDING_ENV} (seconds)")
        time.sleep(POLL_SECONDS)


def _service_exists(api: Any, service_id: str) -> bool:
    import docker.errors

    try:
        api.inspect_service(service_id)
    except docker.errors.NotFound:
        return False
    return True


def _outcome(api: Any, launch: Launch, task: Optional[Dict[str, Any]], output: List[str]) -> Outcome:
    log_tail = tail("".join(output))
    if task is None:
        return Outcome(exit_code=CANCELLED_EXIT, node="", log_tail=log_tail)
    status = task.get("Status") or {}
    node = _node_name(api, task.get("NodeID"))
    exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
    if status.get("State") == "complete":
        return Outcome(exit_code=0, node=node, log_tail=log_tail)
    if status.get("State") == "failed" and exit_code:
        return Outcome(exit_code=int(exit_code), node=node, log_tail=log_tail)
    if status.get("State") in ("shutdown", "remove"):
        return Outcome(exit_code=CANCELLED_EXIT, node=node, log_tail=log_tail)
    reason = (status.get("Err") or status.get("Message") or status.get("State") or "no reason given").strip()
    raise FlowimgError(f"the Swarm job {launch.name} did not start {launch.image}: {reason}; check that every "
                       "node can pull the image (push it with `flowimg build`)")


def _node_name(api: Any, node_id: Optional[str]) -> str:
    import docker.errors

    if not node_id:
        return ""
    try:
        return str(api.inspect_node(node_id).get("Description", {}).get("Hostname") or node_id)
    except docker.errors.APIError:
        return str(node_id)


def _fence(api: Any, service: str) -> None:
    """A placement no node can meet, for a job about to be removed whose task has not started: Swarm keeps
    such a pending task after its job is removed and starts it once a node is free (a paused or drained node
    coming back), so a cancelled or timed-out run would still run. A job whose task ended needs nothing."""
    import docker.errors

    try:
        tasks = api.tasks(filters={"service": service})
        if not any((task.get("Status") or {}).get("State") in ("new", "pending", "assigned") for task in tasks):
            return
        found = api.inspect_service(service)
        template = dict(found["Spec"]["TaskTemplate"])
        placement = dict(template.get("Placement") or {})
        placement["Constraints"] = list(placement.get("Constraints") or []) + [f"node.labels.{FENCE_LABEL}=={found['ID']}"]
        template["Placement"] = placement
        spec = found["Spec"]  # not fetch_current_spec: its defaults add an UpdateConfig, which jobs refuse
        api.update_service(service, found["Version"]["Index"], task_template=template, name=spec["Name"],
                           labels=spec.get("Labels"), mode=spec["Mode"])
    except docker.errors.APIError:  # gone already, or changed under us: the removal goes on regardless
        return


def _remove_service(engine: Any, service_id: str) -> None:
    """The service, then its task containers here: Swarm keeps a finished job's containers around."""
    import docker.errors

    try:
        engine.api.remove_service(service_id)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError:
        pass
    for container in engine.client.containers.list(all=True, filters={"label": f"{SERVICE_LABEL}={service_id}"}):
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass


def _remove_secret(api: Any, secret_id: str) -> None:
    """Retried briefly: the manager refuses while the removed job's task still holds the secret."""
    import docker.errors

    for _ in range(50):
        try:
            api.remove_secret(secret_id)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            time.sleep(0.2)


def _open_logs(api: Any, service_id: str, follow: bool) -> Any:
    """The raw log stream, so each frame keeps its stdout/stderr mark (docker-py's helper drops it)."""
    url = f"{api.base_url}/v{api.api_version}/services/{service_id}/logs"
    response = api.get(url, params={"follow": int(follow), "stdout": 1, "stderr": 1}, stream=True)
    response.raise_for_status()
    return response


def _frames(response: Any) -> Iterator[Tuple[int, bytes]]:
    """(stream, payload) from Docker's multiplexed format: 8-byte header (stream, 0, 0, 0, size)."""
    while True:
        header = _read_exactly(response.raw, 8)
        if len(header) < 8:
            return
        stream, size = struct.unpack(">BxxxL", header)
        yield stream, _read_exactly(response.raw, size)


def _read_exactly(raw: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = raw.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class _Logs:
    """Follows the job's logs live; `finish` then reads them whole once and adds what the live stream
    had not delivered yet, since a followed service log never ends by itself."""

    def __init__(self, api: Any, service_id: str, out: Log, log: Log, secrets: List[str]) -> None:
        from ..image.engine import LineStream

        self.api, self.service_id = api, service_id
        self.output: List[str] = []
        secrets = [value for value in secrets if value]
        self.streams = {1: LineStream(out, secrets, self.output), 2: LineStream(log, secrets, self.output)}
        self.seen = 0
        self.lock = threading.Lock()
        self.done = False
        self.response: Any = None
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        try:
            response = _open_logs(self.api, self.service_id, follow=True)
        except Exception:  # noqa: BLE001 - a live stream that fails loses nothing: finish() reads it all
            return
        try:
            with self.lock:
                if self.done:
                    return
                self.response = response
            for stream, data in _frames(response):
                with self.lock:
                    if self.done:
                        return
                    self._emit(stream, data)
        except Exception:  # noqa: BLE001 - as above
            return
        finally:
            response.close()

    def _emit(self, stream: int, data: bytes) -> None:
        self.seen += 1
        self.streams.get(stream, self.streams[2]).feed(data)

    def stop(self) -> None:
        """Ends the live stream by shutting its socket: closing the response here would wait for the
        reading thread's lock, and a followed log may stay silent for ever."""
        with self.lock:
            self.done = True
            response, self.response = self.response, None
        sock: Any = getattr(getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None), "raw", None)
        sock = getattr(sock, "_sock", sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass  # not a plain socket (e.g. SSH): the thread ends when the engine closes the stream

    def finish(self) -> None:
        self.stop()
        try:
            frames = list(_frames(_open_logs(self.api, self.service_id, follow=False)))
        except Exception:  # noqa: BLE001 - the job's result stands without its last lines
            frames = []
        for stream, data in frames[self.seen:]:
            self._emit(stream, data)
        for lines in self.streams.values():
            lines.close()
