"""The OCI distribution API on the standard library: resolve, check, mount, upload and tag, no daemon.

Written on the standard library rather than a PyPI client: the ones that exist either need a daemon
(docker-py), shell out to a Go binary (oras), or leave out the docker credential helpers or
cross-repository mounts this builder relies on. The protocol part is small (a dozen requests); its
HTTP/1.1 is http1.py, since importing http.client costs more than a warm rebuild's whole push.
Secrets (passwords, tokens) live only in request headers: never in a message, a log or an error.
"""
from __future__ import annotations

import contextlib
import copy
import ipaddress
import json
import os
import time
import urllib.parse

from ..digests import sha256_hex
from ..errors import FlowimgError
from ..record import Record
from .http1 import Connection, Disconnected, Timeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, List, Optional, Tuple

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
CHUNK = 8 * 1024 * 1024  # blobs bigger than this go up in PATCH chunks
DEFAULT_TIMEOUT = 120.0  # seconds for one whole call (all its requests), not per socket read


class RegistryError(FlowimgError):
    """A registry refused or did not answer; the message names the registry and the fix."""


class Credentials(Record):
    __slots__ = ("username", "password")
    _not_shown = ("password",)
    username: str
    password: str

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password


def sha256_digest(data: bytes) -> str:
    return "sha256:" + sha256_hex(data)


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def insecure_registries(extra: Iterable[str] = ()) -> List[str]:
    """Hosts allowed over plain HTTP besides loopback: the setting plus FLOWIMG_INSECURE_REGISTRIES."""
    listed = [h.strip() for h in os.environ.get("FLOWIMG_INSECURE_REGISTRIES", "").split(",") if h.strip()]
    return sorted(set(listed) | set(extra))


# -- credentials ----------------------------------------------------------------------------------
def _config_path() -> str:
    folder = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(folder, "config.json")


def _helper_credentials(helper: str, host: str) -> Optional[Credentials]:
    """The docker-credential-* protocol: the server on stdin, {"Username", "Secret"} on stdout."""
    import subprocess

    program = f"docker-credential-{helper}"
    try:
        result = subprocess.run([program, "get"], input=host, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise RegistryError(f"credential helper {program} (named in {_config_path()}) is not installed; "
                            "install it or remove it from the Docker config") from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"credential helper {program} did not answer in 30 s; check it works with "
                            f"`echo {host} | {program} get`") from None
    if result.returncode != 0:
        if "not found" in (result.stdout + result.stderr).lower():
            return None
        raise RegistryError(f"credential helper {program} failed for {host}; check it with "
                            f"`echo {host} | {program} get`")
    try:
        data = json.loads(result.stdout)
        return Credentials(data["Username"], data["Secret"])
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f"credential helper {program} gave no Username/Secret for {host}") from None


def docker_credentials(host: str) -> Optional[Credentials]:
    """What `docker login` stored for `host`: credHelpers, then credsStore, then auths."""
    path = _config_path()
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RegistryError(f"cannot read the Docker config {path} ({type(exc).__name__}); fix or remove it") from None
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        found = _helper_credentials(helper, host)
        if found is not None:
            return found
    auths = config.get("auths") or {}
    entry = next((auths[k] for k in (host, f"https://{host}", f"http://{host}") if k in auths), None)
    if not entry or not entry.get("auth"):
        return None
    import base64

    try:
        username, _, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
    except ValueError:
        raise RegistryError(f"the auth entry for {host} in {path} is not base64 user:password; "
                            f"run `docker login {host}` again") from None
    return Credentials(username, password)


# -- challenges -------------------------------------------------------------------------------------
def parse_challenge(header: str) -> Tuple[str, Dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params: Dict[str, str] = {}
    while rest:
        key, _, rest = rest.strip().partition("=")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        params[key.strip().lower()] = value
        rest = rest.lstrip(", ")
    return scheme.lower(), params


class _Response(Record):
    __slots__ = ("status", "headers", "body")
    status: int
    headers: Dict[str, str]
    body: bytes

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def error_text(self) -> str:
        try:
            errors = json.loads(self.body).get("errors") or []
            return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
        except (ValueError, AttributeError):
            return self.body[:200].decode("utf-8", "replace").strip()


class Registry:
    """One registry host; each public call has an overall deadline of `timeout` seconds."""

    def __init__(self, host: str, credentials: Optional[Credentials] = None, insecure: Iterable[str] = (),
                 timeout: float = DEFAULT_TIMEOUT, use_docker_config: bool = True) -> None:
        self.host = host
        self.plain_http = is_loopback(host) or host in insecure_registries(insecure)
        self.timeout = timeout
        # Shared with forks, so the Docker config (or its credential helper) is read once per host.
        self._login: Dict[str, Optional[Credentials]] = (
            {"credentials": credentials} if credentials is not None or not use_docker_config else {})
        self._authorization: Optional[str] = None
        self._scopes: List[str] = []
        self._conn: Optional[Connection] = None
        self._conn_used = False
        self._last_missing: Optional[_Response] = None

    # -- plumbing -----------------------------------------------------------------------------------
    def _creds(self) -> Optional[Credentials]:
        if "credentials" not in self._login:
            self._login["credentials"] = docker_credentials(self.host)
        return self._login["credentials"]

    def _until(self) -> float:
        return time.monotonic() + self.timeout

    def _connection(self, host: str, plain: bool, until: float) -> Connection:
        remaining = until - time.monotonic()
        if remaining <= 0:
            raise RegistryError(f"registry {self.host} did not finish within {self.timeout:.0f} s; "
                                "check the registry and the network, then retry")
        return Connection(host, tls=not plain, timeout=remaining)

    def _send(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes],
              until: float) -> _Response:
        """One HTTP exchange; reuses the keep-alive connection to this registry, reconnecting once if stale."""
        parts = urllib.parse.urlsplit(url)
        own = not parts.netloc or parts.netloc == self.host
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            if own:
                if self._conn is None:
                    self._conn = self._connection(self.host, self.plain_http, until)
                    self._conn_used = False
                conn = self._conn
                conn.settimeout(max(until - time.monotonic(), 0.001))
            else:
                conn = self._connection(parts.netloc, parts.scheme == "http", until)
            try:
                response = _Response(*conn.request(method, target, headers, body))
                if own:
                    self._conn_used = True
                else:
                    conn.close()
                return response
            except (Disconnected, BrokenPipeError, ConnectionResetError) as exc:
                stale = own and self._conn_used and attempt == 0
                self._drop()
                if not stale:
                    raise self._unreachable(exc) from None
            except OSError as exc:
                self._drop()
                raise self._unreachable(exc) from None
        raise AssertionError("unreachable")

    def _unreachable(self, exc: BaseException) -> RegistryError:
        if isinstance(exc, Timeout):
            return RegistryError(f"registry {self.host} did not finish within {self.timeout:.0f} s; "
                                 "check the registry and the network, then retry")
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        scheme = "http" if self.plain_http else "https"
        return RegistryError(f"cannot reach registry {scheme}://{self.host} ({reason}); check that it is "
                             "running and reachable, then retry")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        self._drop()

    def fork(self) -> "Registry":
        """A client for another thread: the same host, login and token, its own connection."""
        other = copy.copy(self)
        other._conn, other._conn_used, other._last_missing = None, False, None
        other._scopes = list(self._scopes)
        return other

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator["Registry"]:
        """Calls inside finish within `seconds` (a quick probe); the usual timeout holds again after."""
        previous, self.timeout = self.timeout, min(self.timeout, seconds)
        try:
            yield self
        finally:
            self.timeout = previous

    def _url(self, path: str) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.host}{path}"

    def request(self, method: str, path: str, until: float, headers: Optional[Dict[str, str]] = None,
                body: Optional[bytes] = None, ok: Tuple[int, ...] = (200,)) -> _Response:
        """Answer authentication challenges (basic, bearer) once, follow redirects, check the status."""
        url = path if "://" in path else self._url(path)
        sent = dict(headers or {})
        answered = False
        for _ in range(5):
            own = urllib.parse.urlsplit(url).netloc == self.host
            if own and self._authorization:
                sent["Authorization"] = self._authorization
            else:
                sent.pop("Authorization", None)
            response = self._send(method, url, sent, body, until)
            if response.status == 401 and own and not answered and "www-authenticate" in response.headers:
                self._authenticate(response.headers["www-authenticate"], until)
                answered = True
                continue
            if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                url = urllib.parse.urljoin(url, response.headers["location"])
                continue
            break
        if response.status not in ok:
            raise self._refused(method, path, response)
        return response

    def _refused(self, method: str, path: str, response: _Response) -> RegistryError:
        what = path.split("?")[0]
        detail = response.error_text()
        if response.status == 401:
            fix = f"log in with `docker login {self.host}` (or flowimg build --registry-username ... --password-stdin)"
        elif response.status == 403:
            fix = "ask for push/pull access to this repository, or use credentials that have it"
        elif response.status == 404:
            fix = "check the image name and tag, and that it was pushed to this registry"
        else:
            fix = "check the registry's log, then retry"
        return RegistryError(f"registry {self.host} answered {response.status} to {method} {what}"
                             + (f" ({detail})" if detail else "") + f"; {fix}")

    def _authenticate(self, header: str, until: float) -> None:
        import base64

        scheme, params = parse_challenge(header)
        creds = self._creds()
        if scheme == "basic":
            if creds is None:
                raise RegistryError(f"registry {self.host} needs a login; run `docker login {self.host}` or pass "
                                    "--registry-username USER --password-stdin")
            token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            self._authorization = f"Basic {token}"
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"registry {self.host} asks for an unsupported authentication ({scheme}); "
                                "use basic or token auth")
        for scope in params.get("scope", "").split():
            if scope not in self._scopes:
                self._scopes.append(scope)
        query = [("service", params["service"])] if "service" in params else []
        query += [("scope", s) for s in self._scopes]
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "http" and not (is_loopback(parts.netloc) or parts.netloc in insecure_registries()):
            raise RegistryError(f"registry {self.host} sends credentials to a plain-HTTP token server "
                                f"{parts.netloc}; refused, serve it over HTTPS")
        headers = {}
        if creds is not None:
            token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        conn = self._connection(parts.netloc, parts.scheme == "http", until)
        try:
            status, _, body = conn.request("GET", parts.path + "?" + parts.query, headers)
        except OSError as exc:
            raise RegistryError(f"cannot reach the token server of {self.host} at {parts.netloc} "
                                f"({getattr(exc, 'strerror', None) or type(exc).__name__}); check it is running") from None
        finally:
            conn.close()
        if status != 200:
            fix = ("check the user and password (docker login)" if status in (401, 403)
                   else "check the token server's log")
            raise RegistryError(f"the token server of {self.host} answered {status}; {fix}")
        try:
            data = json.loads(body)
            token = data.get("token") or data["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(f"the token server of {self.host} gave no token; check its configuration") from None
        self._authorization = f"Bearer {token}"

    # -- manifests --------------------------------------------------------------------------------
    def get_manifest(self, repository: str, reference: str) -> Tuple[bytes, str, str]:
        """(bytes, media type, digest) of a tag or digest."""
        found = self.find_manifest(repository, reference)
        if found is None:
            assert self._last_missing is not None  # find_manifest keeps the 404 it got
            raise self._refused("GET", f"/v2/{repository}/manifests/{reference}", self._last_missing)
        return found

    def find_manifest(self, repository: str, reference: str) -> Optional[Tuple[bytes, str, str]]:
        """Like get_manifest, but None when the registry has no such tag or digest."""
        response = self.request("GET", f"/v2/{repository}/manifests/{reference}", self._until(),
                                headers={"Accept": ACCEPT}, ok=(200, 404))
        if response.status == 404:
            self._last_missing = response
            return None
        data = response.body
        media_type = response.headers.get("content-type", "").split(";")[0]
        if media_type not in INDEX_TYPES + MANIFEST_TYPES:
            media_type = json.loads(data).get("mediaType", media_type)
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"registry {self.host} sent manifest {reference} with the wrong content; retry")
        return data, media_type, digest

    def manifest_digest(self, repository: str, reference: str) -> Optional[str]:
        """The digest a tag points at now, or None when the tag is not there."""
        response = self.request("HEAD", f"/v2/{repository}/manifests/{reference}", self._until(),
                                headers={"Accept": ACCEPT}, ok=(200, 404))
        if response.status == 404:
            return None
        return response.headers.get("docker-content-digest")

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        self.request("PUT", f"/v2/{repository}/manifests/{reference}", self._until(),
                     headers={"Content-Type": media_type}, body=data, ok=(201, 200))
        return sha256_digest(data)

    # -- blobs ----------------------------------------------------------------------------------------
    def get_blob(self, repository: str, digest: str) -> bytes:
        data = self.request("GET", f"/v2/{repository}/blobs/{digest}", self._until()).body
        if sha256_digest(data) != digest:
            raise RegistryError(f"registry {self.host} sent blob {digest[:19]} with the wrong content; retry")
        return data

    def has_blob(self, repository: str, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", self._until(), ok=(200, 404))
        return response.status == 200

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Cross-repository mount: True when the registry linked the blob without any upload."""
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/?{query}", self._until(), ok=(201, 202))
        if response.status == 202 and "location" in response.headers:
            self.request("DELETE", response.headers["location"], self._until(), ok=(204, 200, 404))
        return response.status == 201

    def upload_blob(self, repository: str, data: bytes, digest: str, location: Optional[str] = None) -> None:
        """POST then one monolithic PUT for small blobs; PATCH chunks then PUT for big ones.
        With `location` (from `start_upload`), the POST was done already."""
        until = self._until()
        location = location or self.start_upload(repository)
        offset = 0
        while len(data) - offset > CHUNK:
            chunk = data[offset:offset + CHUNK]
            answer = self.request("PATCH", location, until, body=chunk, ok=(202,), headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
            location = urllib.parse.urljoin(location, answer.headers.get("location", location))
            offset += len(chunk)
        separator = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{separator}digest={urllib.parse.quote(digest)}", until,
                     body=data[offset:], ok=(201,), headers={"Content-Type": "application/octet-stream"})

    def start_upload(self, repository: str) -> str:
        """An upload session's location: needs no digest, so it can be opened before the blob exists."""
        started = self.request("POST", f"/v2/{repository}/blobs/uploads/", self._until(), ok=(202,))
        return urllib.parse.urljoin(self._url("/"), started.headers.get("location", ""))

    def cancel_upload(self, location: str) -> None:
        self.request("DELETE", location, self._until(), ok=(204, 200, 404))

    def ping(self) -> bool:
        """True when a registry answers /v2/ (an authentication challenge counts as an answer)."""
        try:
            response = self._send("GET", self._url("/v2/"), {}, None, time.monotonic() + min(self.timeout, 5.0))
        except RegistryError:
            return False
        return response.status in (200, 401)
