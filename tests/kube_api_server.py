"""A loopback stand-in for a Kubernetes API server: the batch/v1 Job and CronJob calls `deploy --apply` makes.

It answers as kube-apiserver does for these requests: bearer-token authentication (401 Status), RBAC refusal
per namespace (403 Status), create (201, server-set uid/resourceVersion, a Job's generated selector and pod
labels), 409 AlreadyExists, get (404 NotFound), replace with optimistic locking (409 Conflict on a stale
resourceVersion) and a Job's immutable selector and pod template (422 Invalid).
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from git_services import LocalServer

PATH = re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[a-z0-9-]+)/(?P<plural>jobs|cronjobs)(?:/(?P<name>[a-z0-9-]+))?$")
KINDS = {"jobs": "Job", "cronjobs": "CronJob"}


@dataclass
class Request:
    method: str
    path: str
    authorization: Optional[str]
    content_type: Optional[str]
    body: Optional[Dict[str, Any]]


@dataclass
class FakeApiServer:
    token: str
    forbidden_namespaces: Tuple[str, ...] = ()
    objects: Dict[Tuple[str, str, str], Dict[str, Any]] = field(default_factory=dict)
    requests: List[Request] = field(default_factory=list)
    _versions: Any = field(default_factory=lambda: itertools.count(1000))

    def status(self, code: int, reason: str, message: str, name: str = "", plural: str = "") -> Tuple[int, Dict[str, Any]]:
        body: Dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": message, "reason": reason, "code": code}
        if name:
            body["details"] = {"name": name, "group": "batch", "kind": plural}
        return code, body

    def handle(self, method: str, path: str, headers: Any, body: Optional[Dict[str, Any]]) -> Tuple[int, Dict[str, Any]]:
        self.requests.append(Request(method, path, headers.get("Authorization"), headers.get("Content-Type"), body))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return self.status(401, "Unauthorized", "Unauthorized")
        match = PATH.match(path.split("?")[0])
        if not match:
            return self.status(404, "NotFound", "the server could not find the requested resource")
        ns, plural, name = match["ns"], match["plural"], match["name"]
        verb = {"POST": "create", "GET": "get", "PUT": "update"}.get(method, method.lower())
        if ns in self.forbidden_namespaces:
            return self.status(403, "Forbidden", f'{plural}.batch{" " + repr(name) if name else ""} is forbidden: '
                               f'User "tester" cannot {verb} resource "{plural}" in API group "batch" in the '
                               f'namespace "{ns}"', name or "", plural)
        if method == "POST" and name is None:
            assert body is not None
            name = body["metadata"]["name"]
            if (ns, plural, name) in self.objects:
                return self.status(409, "AlreadyExists", f'{plural}.batch "{name}" already exists', name, plural)
            stored = json.loads(json.dumps(body))
            uid = str(uuid.uuid4())
            stored["metadata"].update(uid=uid, resourceVersion=str(next(self._versions)),
                                      creationTimestamp="2026-11-27T00:00:00Z", generation=1)
            if plural == "jobs":
                selector = {"batch.kubernetes.io/controller-uid": uid}
                stored["spec"]["selector"] = {"matchLabels": selector}
                stored["spec"]["template"]["metadata"]["labels"].update(
                    selector, **{"batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name})
            self.objects[(ns, plural, name)] = stored
            return 201, stored
        if name is None:
            return self.status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        current = self.objects.get((ns, plural, name))
        if current is None:
            return self.status(404, "NotFound", f'{plural}.batch "{name}" not found', name, plural)
        if method == "GET":
            return 200, current
        if method == "PUT":
            assert body is not None
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return self.status(409, "Conflict", f'Operation cannot be fulfilled on {plural}.batch "{name}": the '
                                   "object has been modified; please apply your changes to the latest version and "
                                   "try again", name, plural)
            for key in ("selector", "template"):
                if plural == "jobs" and body["spec"].get(key) != current["spec"][key]:
                    return self.status(422, "Invalid", f'Job.batch "{name}" is invalid: spec.{key}: Invalid value: '
                                       '"...": field is immutable', name, plural)
            replaced = json.loads(json.dumps(body))
            replaced["metadata"].update(uid=current["metadata"]["uid"], resourceVersion=str(next(self._versions)),
                                        creationTimestamp=current["metadata"]["creationTimestamp"],
                                        generation=current["metadata"]["generation"] + 1)
            self.objects[(ns, plural, name)] = replaced
            return 200, replaced
        return self.status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def serve(api: FakeApiServer) -> Tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            code, answer = api.handle(self.command, self.path, self.headers, body)
            LocalServer.send(self, code, answer)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def write_kubeconfig(path: Path, server: str, token: str, namespace: str = "default") -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "tester", "namespace": namespace}}],
    }))
    return path
