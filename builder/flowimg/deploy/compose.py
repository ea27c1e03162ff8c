"""`flowimg deploy --compose`: a docker compose file that runs one registered flow version once."""
from __future__ import annotations

import re

from ..backend.base import FlowVersion
from ..errors import FlowimgError
from ..running import runtime_command
from ..storage.base import Storage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List

_SERVICE_CHARS = re.compile(r"[^a-z0-9_.-]+")


def service_name(flow: str) -> str:
    """Compose service names allow only [a-zA-Z0-9._-]; flow names are free text."""
    return _SERVICE_CHARS.sub("-", flow.lower()).strip("-.") or "flow"


def render_compose(version: FlowVersion, image: str, secret_names: List[str], flowimg_version: str) -> str:
    """Secrets appear as `${NAME}` interpolations, so values stay in the caller's environment."""
    import yaml

    labels = {
        "io.flowimg.flow": version.name,
        "io.flowimg.project": version.project,
        "io.flowimg.version": str(version.version),
        "io.flowimg.flow-id": version.id,
        "io.flowimg.flowimg-version": flowimg_version,
    }
    service = {
        "image": image,
        "command": runtime_command(version, {}),
        "network_mode": "host",
        "restart": "no",
        "labels": labels,
    }
    if secret_names:
        service["environment"] = {name: "${%s}" % name for name in sorted(secret_names)}
    document = {"services": {service_name(version.name): service}}
    return str(yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000))


def deploy_image(storage: Storage) -> str:
    """The image a deployment runs: by digest when `register --pin` recorded one."""
    image = storage.run_image()
    if image is None:
        raise FlowimgError(f"the flow is stored in {storage.describe()}, which has no image; register it "
                           "with Docker storage (flowimg register ... with storage=Docker(...)) to deploy it")
    return image
