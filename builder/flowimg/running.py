"""`flowimg run`: fetch a registered flow from its storage, check its structure, run it here or in an image."""
from __future__ import annotations

import json
import os
import shlex
import uuid

from .backend.base import Backend, FlowVersion
from .core.running import check_parameters
from .errors import FlowimgError
from .runtime import check_structure, run_and_report
from .secrets import local_secret_values, secret_environment
from .storage import from_dict
from .log import Log
from .run_record import local_outcome, recorded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional
    from .targets import Launch

RUNTIME_LIB = "/opt/flowimg/lib"


def register_hint(version: FlowVersion) -> str:
    """The exact command that registers the flow again, from where it was registered."""
    where = version.source or f"<script defining '{version.name}'>"
    option = "-m" if version.source and not version.source.endswith(".py") else "-p"
    return f"flowimg register {option} {shlex.quote(where)} --project {shlex.quote(version.project)}"


def run_registered(backend: Backend, project: str, name: str, *, version: Optional[int] = None,
                   parameters: Optional[Dict[str, Any]] = None, image: Optional[str] = None,
                   network: Optional[str] = None, on: Optional[str] = None, log: Log = print) -> int:
    """Exit code of the run: 0 when every task finished. Without `on`, a flow with an image runs in it
    on the local engine, one without runs here in this process."""
    from .targets import get_target

    target = get_target(on or "docker")
    network = network or target.networks[0]
    if network not in target.networks:
        raise FlowimgError(f"--network {network} is not possible on {target.name}; use "
                           f"{' or '.join(target.networks)}" + (", or run with --on docker" if on else ""))
    registered = backend.get(project, name, version)
    storage = from_dict(registered.storage)
    run_image = image or storage.run_image()
    if run_image is None and on:
        raise FlowimgError(f"flow '{name}' has no image to run on {on}: its storage is {storage.describe()}; "
                           "give it Docker storage and register it again, or name an image with --image REF")
    secrets = secret_environment(storage.secret_names())
    log(f"Running '{name}' version {registered.version} ({registered.id}) from {storage.describe()}")
    parameters = parameters or {}
    if run_image is None:
        flow = storage.get_flow(name, log=log)
        check_structure(flow, registered.structure, register_hint(registered))
        check_parameters(flow, parameters)  # bad input fails before anything is recorded
        redacted = local_secret_values(secrets.values())
        return recorded(backend, registered, parameters=parameters, target="local", image="", secrets=redacted,
                        launch=lambda: local_outcome(lambda: run_and_report(flow, parameters, log), redacted),
                        log=log)
    launch = _launch(run_image, registered, parameters, secrets, network, pass_storage=image is not None)
    code = recorded(backend, registered, parameters=parameters, target=target.name, image=run_image,
                    secrets=list(secrets.values()), launch=lambda: target.launch(launch, log=log, out=print),
                    log=log)
    return 0 if code == 0 else 1


def run_labels(registered: FlowVersion, run_id: Optional[str] = None) -> Dict[str, str]:
    """What a run's container or job is labelled with, so `docker ps` tells whose run it is."""
    labels = {"org.flowimg.flow": registered.name, "org.flowimg.version-id": registered.id}
    return {**labels, "org.flowimg.run-id": run_id} if run_id else labels


def runtime_command(registered: FlowVersion, parameters: Dict[str, Any], pass_storage: bool = False) -> List[str]:
    """Arguments for the image's runtime entrypoint; shared by local runs and deploy manifests."""
    command: List[str] = [
        registered.name,
        "--expect-structure-json", json.dumps(registered.structure, sort_keys=True),
        "--params-json", json.dumps(parameters),
        "--register-hint", register_hint(registered),
    ]
    if pass_storage:
        command += ["--storage-json", json.dumps(registered.storage, sort_keys=True)]
    return command


def _launch(image: str, registered: FlowVersion, parameters: Dict[str, Any], secrets: Dict[str, str],
            network: str, pass_storage: bool) -> "Launch":
    """Secrets go in for this one run only, never into the image or its logs."""
    from .image.engine import Engine
    from .manifest import MANIFEST_LABEL
    from .targets import Launch

    volumes = entrypoint = None
    environment: Dict[str, str] = {}
    if MANIFEST_LABEL not in Engine.shared().labels(image):
        # Not built by flowimg: lend it this flowimg, read-only, for the one run.
        import flowimg

        volumes = {os.path.dirname(flowimg.__file__): {"bind": f"{RUNTIME_LIB}/flowimg", "mode": "ro"}}
        entrypoint = ["python3", "-m", "flowimg.runtime"]
        environment["PYTHONPATH"] = RUNTIME_LIB
    return Launch(image=image, command=runtime_command(registered, parameters, pass_storage),
                  name=f"flowimg-run-{uuid.uuid4().hex[:12]}", environment=environment, secrets=secrets,
                  labels=run_labels(registered),
                  network=network, volumes=volumes, entrypoint=entrypoint)
