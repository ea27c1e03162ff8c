"""`flowimg deploy --kubernetes`: a CronJob or Job manifest that runs one registered flow version in its image."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from ..backend.base import FlowVersion
from ..running import runtime_command
from .cron import CronSpec, to_cron

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

_DNS_CHARS = re.compile(r"[^a-z0-9-]+")
# The controller appends an 11-character suffix to a CronJob's name for each Job it starts.
CRONJOB_NAME_MAX = 52
STARTING_DEADLINE = 300
HISTORY = 3


def dns_name(text: str, limit: int = 63) -> str:
    """Kubernetes object names are DNS-1123 labels; flow and secret names are free text."""
    return _DNS_CHARS.sub("-", text.lower()).strip("-")[:limit].rstrip("-") or "flow"


@dataclass(frozen=True)
class JobOptions:
    namespace: str = "default"
    service_account: Optional[str] = None
    cpu: Optional[str] = None
    memory: Optional[str] = None


def render_manifest(version: FlowVersion, image: str, secret_names: List[str], flowimg_version: str,
                    options: JobOptions = JobOptions(), plain_job: bool = False,
                    now: Optional[datetime] = None) -> str:
    """A CronJob when the registered schedule is cron-expressible, a Job without one (or with
    `plain_job`); a schedule cron cannot express raises NotCron rather than silently dropping it."""
    schedule = version.structure.get("schedule")
    if schedule is None or plain_job:
        return render_job(version, image, secret_names, flowimg_version, options)
    spec = to_cron(schedule, now or datetime.now(timezone.utc))
    return render_cronjob(version, image, secret_names, flowimg_version, spec, options)


def render_job(version: FlowVersion, image: str, secret_names: List[str], flowimg_version: str,
               options: JobOptions = JobOptions()) -> str:
    """Secrets become `secretKeyRef`s to a Secret named after each secret, key = the name: values never appear."""
    labels, annotations = _labels(version, flowimg_version)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(dns_name(f"{version.name}-v{version.version}"), labels, annotations, options),
        "spec": _job_spec(version, image, secret_names, options, {}, labels, annotations),
    }
    return _yaml(job)


def render_cronjob(version: FlowVersion, image: str, secret_names: List[str], flowimg_version: str,
                   spec: CronSpec, options: JobOptions = JobOptions()) -> str:
    """Forbid keeps one run at a time as a Prefect agent does; a run missed by more than
    STARTING_DEADLINE (controller down) is skipped instead of started late in a burst."""
    labels, annotations = _labels(version, flowimg_version)
    job_spec = _job_spec(version, image, secret_names, options, spec.parameters, labels, annotations)
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(dns_name(f"{version.name}-v{version.version}", CRONJOB_NAME_MAX), labels,
                              dict(annotations, **{"flowimg.io/schedule": spec.schedule}), options),
        "spec": {"schedule": spec.schedule, "timeZone": spec.time_zone, "concurrencyPolicy": "Forbid",
                 "startingDeadlineSeconds": STARTING_DEADLINE, "successfulJobsHistoryLimit": HISTORY,
                 "failedJobsHistoryLimit": HISTORY,
                 "jobTemplate": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                                 "spec": job_spec}},
    }
    return _yaml(cronjob)


def _labels(version: FlowVersion, flowimg_version: str) -> Tuple[Dict[str, str], Dict[str, str]]:
    labels = {"app.kubernetes.io/name": dns_name(version.name), "app.kubernetes.io/managed-by": "flowimg",
              "flowimg.io/version": str(version.version)}
    annotations = {"flowimg.io/flow": version.name, "flowimg.io/project": version.project,
                   "flowimg.io/flow-id": version.id, "flowimg.io/flowimg-version": flowimg_version}
    return labels, annotations


def _metadata(name: str, labels: Dict[str, str], annotations: Dict[str, str], options: JobOptions) -> Dict[str, Any]:
    return {"name": name, "namespace": options.namespace, "labels": labels, "annotations": annotations}


def _job_spec(version: FlowVersion, image: str, secret_names: List[str], options: JobOptions,
              parameters: Dict[str, Any], labels: Dict[str, str], annotations: Dict[str, str]) -> Dict[str, Any]:
    container: Dict[str, Any] = {"name": "flow", "image": image, "args": runtime_command(version, parameters)}
    if secret_names:
        container["env"] = [{"name": secret, "valueFrom": {"secretKeyRef": {"name": dns_name(secret), "key": secret}}}
                            for secret in sorted(secret_names)]
    limits = {key: value for key, value in (("cpu", options.cpu), ("memory", options.memory)) if value}
    if limits:
        container["resources"] = {"requests": dict(limits), "limits": dict(limits)}
    pod: Dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    return {"backoffLimit": 0,
            "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}, "spec": pod}}


def _yaml(document: Dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000))
