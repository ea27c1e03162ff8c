"""What GitHub, GitLab, Bitbucket and plain Git storage share, written once.

All four keep one flow script at a path in a git repository and read it at a ref each time a flow
is loaded, so task bodies can change between runs. This module holds the ref handling, the secret
look-up, the log and error wording, and loading the flow; `HostedGitStorage` adds the HTTP fetch
and the error mapping for the three REST services, whose modules only say their URLs, headers and
how to read their answers. Standard library only: it also runs inside images on bare Python 3.8+.
"""
from __future__ import annotations

from abc import abstractmethod

import base64
import http.client
import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

from ..deadline import network_timeout, within_deadline
from ..errors import FlowimgError, MissingModule
from ..flow import Flow
from ..loading import load_script, pick_flow
from ..secrets import find_secret, get_secret, redact
from .base import Storage, _quiet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log
    from typing import Any, Dict, List, Optional, Tuple

USER_AGENT = "flowimg"
AUTH_HEADERS = ("Authorization", "Private-token")   # as urllib spells them (str.capitalize)
MIN_REDACTED = 4   # shorter values (a one-letter username) would blank out ordinary words


def redact_secrets(text: str, values: List[str]) -> str:
    return redact(text, [v for v in values if len(v) >= MIN_REDACTED])


def refuse_credentials_in_url(url: str, setting: str, fix: str, allow_username: bool = False) -> None:
    """A token in a URL would be stored with the flow, shown in errors and put in image labels.

    The message never repeats the URL. A username alone is allowed where it names an account
    (`ssh://git@host/...` for Git); API base URLs need none, so there any user part is refused.
    """
    try:
        parts = urllib.parse.urlsplit(url) if "://" in url else None
    except ValueError:
        raise FlowimgError(f"{setting} is not a valid URL: check its brackets and port") from None
    if parts is not None and (parts.password or (parts.username and not allow_username)):
        raise FlowimgError(f"{setting} must not hold credentials (user:token@): {fix}")


def checked_base_url(url: Any, setting: str, kind: str, fix: str) -> Optional[str]:
    """An https:// (or http://) service address without credentials, or None for the default."""
    if url in (None, ""):
        return None
    if not isinstance(url, str):
        raise FlowimgError(f"{kind} {setting} must be a URL like https://host, not {type(url).__name__}")
    refuse_credentials_in_url(url, f"{kind} {setting}", fix)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname or any(c.isspace() for c in url):
        raise FlowimgError(f"{kind} {setting} must be an https:// URL like https://host")
    return url


def origin(url: str) -> Tuple[str, str, Optional[int]]:
    """(scheme, host, port) with the scheme's default port filled in: what 'the same server' means."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"https": 443, "http": 80}.get(scheme)


def short(sha: str) -> str:
    return sha[:7]


def forget_folder(folder: str) -> None:
    """Drop a loaded flow's folder from sys.path and its modules from sys.modules.

    The flow keeps what it already imported; the next load imports the sibling modules afresh
    (so an edited helper module is picked up) instead of reusing stale ones.
    """
    prefix = os.path.join(os.path.abspath(folder), "")

    def inside(path: Any) -> bool:
        return isinstance(path, str) and os.path.join(os.path.abspath(path), "").startswith(prefix)

    sys.path[:] = [p for p in sys.path if not inside(p)]
    for key in [k for k in sys.path_importer_cache if inside(k)]:
        del sys.path_importer_cache[key]
    for name, module in list(sys.modules.items()):
        if inside(getattr(module, "__file__", None)):
            del sys.modules[name]


def load_flows(path: str, text: Optional[str], storage_kind: str, forget: Optional[str] = None) -> Dict[str, Flow]:
    """`load_script`, then forget `forget` (default: the script's folder), which is a temporary
    clone about to be removed, or no real folder at all."""
    try:
        return load_script(path, text=text)
    except MissingModule as exc:
        if text is not None:
            raise FlowimgError(
                f"{exc}; {storage_kind} storage fetches only the flow file itself, so import no sibling "
                "modules from it (Git storage clones the whole repository)"
            ) from None
        raise
    finally:
        forget_folder(forget or os.path.dirname(os.path.abspath(path)))


class GitScriptStorage(Storage):
    """One flow script at `path` in a git repository, read at a ref every time a flow is loaded."""

    script_only = True

    def __init__(self, repo: Any, path: str, stored_as_script: bool = True) -> None:
        super().__init__(stored_as_script)
        if repo in (None, ""):
            raise FlowimgError(f"{self.kind} storage needs repo=...")
        if not path or not isinstance(path, str):
            raise FlowimgError(f"{self.kind} storage needs the path of the flow file in the repository")
        self.repo = repo
        self.path = path.lstrip("/")

    # What each kind says -------------------------------------------------------------------
    def repo_name(self) -> str:
        """The repository as the user named it: 'org/repo', or a clone URL."""
        return str(self.repo)

    def source_label(self) -> str:
        """The repository with where it lives, for messages: 'org/repo on github.com'."""
        return self.repo_name()

    @abstractmethod
    def ref_label(self) -> str:
        """The ref as configured, for describe(): a branch, tag, commit or 'default branch'."""
        raise NotImplementedError

    def credential_secrets(self) -> List[Tuple[str, bool]]:
        """(secret name, named by the user) for each credential; a default name is used only if set."""
        return []

    @abstractmethod
    def fetch(self, location: str, log: Log, load: bool) -> Tuple[Optional[Dict[str, Flow]], str]:
        """Read the file at the ref; load its flows if `load`; return (flows, commit SHA)."""
        raise NotImplementedError

    @abstractmethod
    def resolve_commit(self) -> Tuple[str, str]:
        """(commit SHA, the ref it came from) for the configured ref, asking the remote."""
        raise NotImplementedError

    @abstractmethod
    def pin_to(self, sha: str) -> None:
        raise NotImplementedError

    # The interface, once for all kinds -------------------------------------------------------
    def location_for(self, flow: Flow, script_path: Optional[str]) -> str:
        return self.path

    def build(self, push: bool = True, log: Log = _quiet) -> None:
        """Nothing to upload (the user pushes); check the file is there, so register fails early."""
        for location in sorted(set(self.flows.values()) or {self.path}):
            self.fetch(location, log, load=False)

    def get_flow(self, flow_name: str, log: Log = _quiet) -> Flow:
        location = self._flow_location(flow_name)
        flows, sha = self.fetch(location, log, load=True)
        return pick_flow(flows or {}, flow_name, f"{location} in {self.source_label()} at {short(sha)}")

    def pin(self, log: Log = _quiet) -> None:
        sha, ref = self.resolve_commit()
        self.pin_to(sha)
        log(f"Pinned {ref} of {self.source_label()} to commit {sha}")

    def secret_names(self) -> List[str]:
        return [name for name, _ in self.credential_secrets()]

    def describe(self) -> str:
        return f"{self.kind} {self.source_label()}: {self.path} @ {self.ref_label()}"

    # Helpers for the kinds ---------------------------------------------------------------------
    def credentials(self) -> List[str]:
        """The secret values, all or none: a named secret must exist, a default one may be unset."""
        values: List[str] = []
        for name, named_by_user in self.credential_secrets():
            if named_by_user:
                try:
                    value: Optional[str] = get_secret(name)
                except FlowimgError as exc:
                    raise FlowimgError(f"{self.kind} storage for {self.source_label()}: {exc}") from None
            else:
                value = find_secret(name)
            if value is None:
                return []
            values.append(value)
        return values

    def secrets_hint(self) -> str:
        names = self.secret_names()
        return f"the secret{'s' if len(names) > 1 else ''} {', '.join(names)}"

    def rejected(self, host: str, credentials: List[str], detail: str) -> FlowimgError:
        """401/403: name the host, repo and secret, never the value."""
        detail = f" ({detail})" if detail else ""
        if credentials:
            return FlowimgError(
                f"token rejected by {host} for {self.repo_name()}{detail}: check {self.secrets_hint()}"
            )
        return FlowimgError(
            f"{host} refused {self.repo_name()} without a token{detail}: set {self.secrets_hint()}"
        )

    def fetched(self, log: Log, location: str, sha: str, ref: str) -> None:
        how = "pinned" if ref == sha else ref
        log(f"Fetched {location} from {self.source_label()} at {short(sha)} ({how})")

    def path_missing(self, location: str, sha: str, ref: str) -> FlowimgError:
        return FlowimgError(
            f"path {location} not found in {self.source_label()} at {short(sha)} ({ref}): "
            "check the path (exact, relative to the repository root) and that the file is pushed"
        )

    def ref_missing(self, ref: str) -> FlowimgError:
        return FlowimgError(
            f"ref '{ref}' not found in {self.source_label()}: check the branch, tag or commit"
        )


class NotFound(Exception):
    """A 404 (or the service's own 'no such commit' status); the caller says which thing is missing."""


class _KeepAuthOnSameOrigin(urllib.request.HTTPRedirectHandler):
    """Auth headers are unredirected headers; carry them across a redirect only to the same scheme,
    host and port, so neither another host nor plain http on the same host sees the token."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and origin(newurl) == origin(req.full_url):
            for key, value in req.unredirected_hdrs.items():
                if key in AUTH_HEADERS:
                    new.add_unredirected_header(key, value)
        return new


_opener = urllib.request.build_opener(_KeepAuthOnSameOrigin)


def service_message(body: bytes) -> str:
    """The short message the services put in error bodies (GitHub, GitLab, Bitbucket shapes)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return "" if not text or text.startswith("<") else text.splitlines()[0][:200]
    if not isinstance(data, dict):
        return ""
    if isinstance(data.get("message"), str):
        return str(data["message"])
    errors = data.get("errors")
    if isinstance(errors, list):
        return "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("message", ""))
    if isinstance(error, str):
        return str(data.get("error_description") or error)
    return ""


def read_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:
        raise FlowimgError(f"{what} is not JSON; is the API URL right?") from None


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class HostedGitStorage(GitScriptStorage):
    """GitHub, GitLab, Bitbucket: resolve the ref to a commit over REST, then read the file there.

    A subclass gives `api_base`, the URLs, `auth_headers` and the parsers; nothing else.
    """

    default_secret = ""
    not_found_statuses: Tuple[int, ...] = (404,)
    accept = "application/json"

    def __init__(self, repo: Any, path: str, ref: Optional[str] = None,
                 access_token_secret: Optional[str] = None, stored_as_script: bool = True) -> None:
        super().__init__(repo, path, stored_as_script)
        self.ref = ref or None
        self.access_token_secret = access_token_secret or None

    # Per service ---------------------------------------------------------------------------------
    @abstractmethod
    def api_base(self) -> str:
        raise NotImplementedError

    @abstractmethod
    def repo_url(self) -> str:
        raise NotImplementedError

    def default_branch_of(self, info: Any) -> str:
        """From the repository's JSON; GitHub and GitLab both call it default_branch."""
        return str(info["default_branch"])

    @abstractmethod
    def commit_url(self, ref: str) -> str:
        raise NotImplementedError

    @abstractmethod
    def sha_of(self, commit: Any) -> str:
        raise NotImplementedError

    @abstractmethod
    def file_url(self, location: str, sha: str) -> str:
        raise NotImplementedError

    def file_bytes(self, body: bytes, location: str) -> bytes:
        """The file's bytes from the file endpoint's answer (raw by default)."""
        return body

    @abstractmethod
    def auth_headers(self, credentials: List[str]) -> Dict[str, str]:
        raise NotImplementedError

    # Shared --------------------------------------------------------------------------------------
    def host(self) -> str:
        return urllib.parse.urlsplit(self.api_base()).netloc or self.api_base()

    def source_label(self) -> str:
        return f"{self.repo_name()} on {self.host()}"

    def ref_label(self) -> str:
        return self.ref or "default branch"

    def credential_secrets(self) -> List[Tuple[str, bool]]:
        if self.access_token_secret:
            return [(self.access_token_secret, True)]
        return [(self.default_secret, False)]

    def pin_to(self, sha: str) -> None:
        self.ref = sha

    def checked_base(self, url: Any, setting: str) -> Optional[str]:
        fix = f"put the token in a secret and name it with access_token_secret=... (default {self.default_secret})"
        return checked_base_url(url, setting, self.kind, fix)

    def quote(self, part: Any, safe: str = "") -> str:
        return urllib.parse.quote(str(part), safe=safe)

    def get(self, url: str, credentials: List[str]) -> bytes:
        """GET with the service's auth, within the network deadline; 401/403, unreachable and
        other failures become one line."""
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": self.accept})
        if credentials:
            for key, value in self.auth_headers(credentials).items():
                request.add_unredirected_header(key.capitalize(), value)
        host = self.host()
        seconds = network_timeout()

        def read() -> bytes:
            with _opener.open(request, timeout=seconds) as response:
                return bytes(response.read())

        try:
            return within_deadline(read, f"reading {self.repo_name()} from", host)
        except urllib.error.HTTPError as exc:
            detail = redact_secrets(service_message(exc.read() or b""), credentials)
            if exc.code in self.not_found_statuses:
                raise NotFound(detail) from None
            if exc.code in (401, 403):
                raise self.rejected(host, credentials, f"HTTP {exc.code}: {detail}".rstrip(": ")) from None
            raise FlowimgError(
                f"{host} answered HTTP {exc.code} for {self.repo_name()}"
                f"{': ' + detail if detail else ''}"
            ) from None
        except (urllib.error.URLError, socket.timeout, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise FlowimgError(
                f"cannot reach {host} for {self.repo_name()}: {redact_secrets(str(reason), credentials)}; "
                "check the host / base URL and the network"
            ) from None

    def repo_info(self, credentials: List[str]) -> Any:
        try:
            return read_json(self.get(self.repo_url(), credentials), f"{self.host()}'s answer")
        except NotFound:
            hint = (f"or the credentials in {self.secrets_hint()} cannot see it" if credentials
                    else f"a private repository needs {self.secrets_hint()}")
            raise FlowimgError(
                f"repository {self.source_label()} not found: check the name ({hint})"
            ) from None

    def resolve_with(self, credentials: List[str]) -> Tuple[str, str]:
        ref = self.ref
        if ref is None:
            ref = self.default_branch_of(self.repo_info(credentials))
        try:
            sha = self.sha_of(read_json(self.get(self.commit_url(ref), credentials), f"{self.host()}'s answer"))
        except NotFound:
            if self.ref is not None:
                self.repo_info(credentials)   # raises when it is the repository that is missing
            raise self.ref_missing(ref) from None
        return sha, ref

    def resolve_commit(self) -> Tuple[str, str]:
        return self.resolve_with(self.credentials())

    def fetch(self, location: str, log: Log, load: bool) -> Tuple[Optional[Dict[str, Flow]], str]:
        credentials = self.credentials()
        sha, ref = self.resolve_with(credentials)
        try:
            body = self.get(self.file_url(location, sha), credentials)
        except NotFound:
            raise self.path_missing(location, sha, ref) from None
        data = self.file_bytes(body, location)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FlowimgError(f"{location} in {self.source_label()} is not UTF-8 text") from None
        self.fetched(log, location, sha, ref)
        if not load:
            return None, sha
        # No real folder: a path that reads well in tracebacks and error messages.
        shown_path = f"/{self.host()}/{self.repo}@{short(sha)}/{location}"
        return load_flows(shown_path, text, self.kind), sha
