"""`flowimg deploy --kubernetes`: a Job manifest that runs one registered flow version in its image."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ..backend.base import FlowVersion
from ..running import runtime_command

_DNS_CHARS = re.compile(r"[^a-z0-9-]+")


def dns_name(text: str) -> str:
    """Kubernetes object names are DNS-1123 labels; flow and secret names are free text."""
    return _DNS_CHARS.sub("-", text.lower()).strip("-")[:63].rstrip("-") or "flow"


@dataclass(frozen=True)
class JobOptions:
    namespace: str = "default"
    service_account: Optional[str] = None
    cpu: Optional[str] = None
    memory: Optional[str] = None


def render_job(version: FlowVersion, image: str, secret_names: List[str], flowimg_version: str,
               options: JobOptions = JobOptions()) -> str:
    """Secrets become `secretKeyRef`s to a Secret named after each secret, key = the name: values never appear."""
    import yaml

    name = dns_name(f"{version.name}-v{version.version}")
    labels = {"app.kubernetes.io/name": dns_name(version.name), "app.kubernetes.io/managed-by": "flowimg",
              "flowimg.io/version": str(version.version)}
    annotations = {"flowimg.io/flow": version.name, "flowimg.io/project": version.project,
                   "flowimg.io/flow-id": version.id, "flowimg.io/flowimg-version": flowimg_version}
    container: Dict[str, Any] = {"name": "flow", "image": image, "args": runtime_command(version, {})}
    if secret_names:
        container["env"] = [{"name": secret, "valueFrom": {"secretKeyRef": {"name": dns_name(secret), "key": secret}}}
                            for secret in sorted(secret_names)]
    limits = {key: value for key, value in (("cpu", options.cpu), ("memory", options.memory)) if value}
    if limits:
        container["resources"] = {"requests": dict(limits), "limits": dict(limits)}
    pod: Dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": options.namespace, "labels": labels, "annotations": annotations},
        "spec": {"backoffLimit": 0,
                 "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}, "spec": pod}},
    }
    return str(yaml.safe_dump(job, sort_keys=False, default_flow_style=False, width=1000))
