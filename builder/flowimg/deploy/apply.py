"""`flowimg deploy --kubernetes --apply`: create the manifest's object, or replace the one already there.

Uses the official client (`pip install 'flowimg[kubernetes]'`), imported here only, so the package and
the images it is copied into stay standard-library only. Create first and replace on 409 instead of
server-side apply: the client's apply-patch support differs between its releases.
"""
from __future__ import annotations

import json
import os

from ..errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Mapping, Optional, Tuple

NO_CONFIG = ("no kubeconfig found (KUBECONFIG is unset and ~/.kube/config does not exist); point KUBECONFIG "
             "at your cluster's kubeconfig, or drop --apply and apply the manifest with kubectl")


def kubeconfig(environ: Mapping[str, str]) -> Optional[str]:
    """KUBECONFIG (a path list, as kubectl reads it) when any of it exists, else ~/.kube/config if present."""
    listed = environ.get("KUBECONFIG", "")
    if listed:
        return listed if any(os.path.isfile(path) for path in listed.split(os.pathsep) if path) else None
    default = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".kube", "config")
    return default if os.path.isfile(default) else None


def apply_manifest(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """Apply one Job or CronJob; returns the line to show, raises FlowimgError with the fix."""
    import yaml

    path = kubeconfig(environ)
    if path is None:
        raise FlowimgError(NO_CONFIG)
    try:
        from kubernetes import client, config
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError as TransportError
    except ImportError:
        raise FlowimgError("--apply needs the Kubernetes client, which is not installed; "
                           "pip install 'flowimg[kubernetes]'") from None
    manifest: Dict[str, Any] = yaml.safe_load(text)
    kind, meta = manifest["kind"], manifest["metadata"]
    where = f"{kind} {meta['namespace']}/{meta['name']}"
    try:
        api_client = config.new_client_from_config(config_file=path)
    except (config.ConfigException, yaml.YAMLError, OSError, ValueError, KeyError, TypeError) as exc:
        raise FlowimgError(f"cannot use the kubeconfig {path}: {_first_line(exc)}; fix it "
                           "(kubectl config view shows it) or point KUBECONFIG at another") from None
    host = api_client.configuration.host
    try:
        create, read, replace = _calls(client.BatchV1Api(api_client), kind)
        try:
            create(meta["namespace"], manifest)
            return f"Created {where} on {host}"
        except ApiException as exc:
            if exc.status != 409:
                raise
        existing = api_client.sanitize_for_serialization(read(meta["name"], meta["namespace"]))
        replace(meta["name"], meta["namespace"], for_replace(manifest, existing))
        return f"Replaced {where} on {host}"
    except ApiException as exc:
        raise FlowimgError(refusal(where, host, exc.status, exc.body)) from None
    except TransportError as exc:
        raise FlowimgError(f"cannot reach the Kubernetes API server at {host} ({type(exc).__name__}); "
                           "check the cluster is up and the kubeconfig's server address") from None
    finally:
        api_client.close()


def _calls(batch: Any, kind: str) -> Tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    if kind == "CronJob":
        return (batch.create_namespaced_cron_job, batch.read_namespaced_cron_job,
                batch.replace_namespaced_cron_job)
    return batch.create_namespaced_job, batch.read_namespaced_job, batch.replace_namespaced_job


def for_replace(manifest: Dict[str, Any], existing: Dict[str, Any]) -> Dict[str, Any]:
    """The PUT body: the server's resourceVersion (optimistic locking) and, for a Job, the selector
    and pod labels the server generated, which are immutable and would otherwise be rejected."""
    body: Dict[str, Any] = json.loads(json.dumps(manifest))
    body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
    if body["kind"] == "Job":
        spec = existing.get("spec", {})
        if "selector" in spec:
            body["spec"]["selector"] = spec["selector"]
        generated = spec.get("template", {}).get("metadata", {}).get("labels", {})
        body["spec"]["template"]["metadata"]["labels"] = dict(generated, **body["spec"]["template"]["metadata"]["labels"])
    return body


def refusal(where: str, host: str, status: int, body: Any) -> str:
    """One line from the API's Status object: what it refused and what to do about it."""
    try:
        message = str(json.loads(body).get("message") or "")
    except (TypeError, ValueError, AttributeError):
        message = ""
    message = _first_line(message) or f"HTTP {status}"
    if status == 401:
        return (f"the Kubernetes API server at {host} rejected the kubeconfig's credentials ({message}); "
                "renew them (e.g. a new token in the kubeconfig) and retry")
    if status == 403:
        return (f"the Kubernetes API server at {host} forbids applying {where} ({message}); grant the "
                "kubeconfig's user create/get/update on it in that namespace, or use --namespace")
    if status == 422 and where.startswith("Job "):
        namespace, _, name = where[len("Job "):].partition("/")
        return (f"the Kubernetes API server at {host} refused to change {where} ({message}); a Job's pod "
                f"template cannot change: kubectl delete job {name} -n {namespace}, then apply again")
    return (f"the Kubernetes API server at {host} refused {where} (HTTP {status}: {message}); "
            "fix the manifest or the cluster state it names and retry")


def _first_line(value: Any) -> str:
    return str(value).strip().splitlines()[0] if str(value).strip() else ""
