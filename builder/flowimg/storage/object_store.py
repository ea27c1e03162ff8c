"""What S3 and GCS storage share: keys, script vs pickle, upload decisions, error wording, loading.

s3.py and gcs.py only wrap their client's calls (`ObjectClient`) and sort its exceptions into
`ObjectStoreFailure` kinds; every decision and every message lives here, once.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import hashlib
import json
import os
import re

from ..deadline import within_deadline
from ..errors import FlowimgError
from ..flow import Flow
from ..loading import flow_from_bytes, flow_to_bytes, load_script, pick_flow
from ..secrets import find_secret, redact
from .base import Storage, _quiet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log
    from typing import Any, Dict, List, Literal, Optional, Tuple

KEY_PREFIX = "flowimg"
PICKLE_SUFFIX = ".flowpickle"
SCRIPT_CONTENT_TYPE = "text/x-python; charset=utf-8"
PICKLE_CONTENT_TYPE = "application/octet-stream"

# Kinds of failure a client reports; `ObjectStorage._explain` turns each into one line.
MISSING = "missing"            # a 404 that may be the bucket or the key
NO_BUCKET = "no-bucket"        # the client knows it is the bucket
DENIED = "denied"              # 401/403, bad or unknown keys, bad signatures
UNREACHABLE = "unreachable"    # nothing answers at the endpoint
NO_CREDENTIALS = "no-credentials"
INVALID = "invalid"            # the client refused our arguments (e.g. unknown upload option)
OTHER = "other"


class ObjectStoreFailure(Exception):
    """A client error sorted into a kind; `detail` is the client's own short text (never a secret)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class ErrorSorter(ABC):
    """`with Sorter():` turns a client library's exception into an ObjectStoreFailure kind."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> "Literal[False]":
        if exc is not None and not isinstance(exc, ObjectStoreFailure):
            self.sort(exc)
        return False

    @abstractmethod
    def sort(self, exc: BaseException) -> None:
        """Raise the matching ObjectStoreFailure, or return to let the exception through."""
        raise NotImplementedError


class ObjectClient(ABC):
    """The calls object storage needs from a cloud client, bound to one bucket.

    Each method raises `ObjectStoreFailure` for every error of the underlying client.
    `get`/`put` also return a short version description (ETag, version id, generation...).
    """

    @abstractmethod
    def get(self, key: str) -> Tuple[bytes, str]:
        raise NotImplementedError

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str) -> str:
        raise NotImplementedError

    @abstractmethod
    def exists(self, key: str) -> bool:
        raise NotImplementedError

    @abstractmethod
    def bucket_exists(self) -> bool:
        raise NotImplementedError


def flow_slug(name: str) -> str:
    """A key-safe form of a flow name: 'My Flow!' -> 'my-flow'."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return slug or "flow"


def script_key(flow: Flow, script_path: str) -> str:
    """Stable for the flow, so re-registering after a task edit overwrites the same object."""
    return f"{KEY_PREFIX}/{flow_slug(flow.name)}/{os.path.basename(script_path)}"


def pickle_key(flow: Flow, data: bytes) -> str:
    """Content-addressed, so older registered versions keep their own pickle."""
    return f"{KEY_PREFIX}/{flow_slug(flow.name)}/{hashlib.sha256(data).hexdigest()[:20]}{PICKLE_SUFFIX}"


def describe_version(**parts: Any) -> str:
    """'ETag "abc", version 3' from the parts that have a value."""
    return ", ".join(f"{name} {value}" for name, value in parts.items() if value not in (None, "", "null"))


class ObjectStorage(Storage):
    """A flow kept as an object in a bucket: a script (stored_as_script=True) or a pickle."""

    scheme = ""                   # "s3", "gs"
    default_secret = ""           # secret looked up when credentials_secret is None
    client_package = ""           # what to import, for the "not installed" message
    extra = ""                    # pip extra that brings it
    requirement = ""              # distribution the image needs
    secret_fields: Tuple[str, ...] = ()  # fields of the secret to scrub from client messages

    def __init__(self, bucket: str, key: Optional[str] = None, stored_as_script: bool = False,
                 local_script_path: Optional[str] = None, credentials_secret: Optional[str] = None) -> None:
        super().__init__(stored_as_script)
        if not bucket or not isinstance(bucket, str):
            raise FlowimgError(f"{self.kind} storage needs a bucket name: {self.kind}(bucket='my-flow-bucket')")
        if "/" in bucket or ":" in bucket:
            raise FlowimgError(
                f"{self.kind} bucket '{bucket}' must be a bare bucket name, not a URL or path; "
                "put the path in key="
            )
        if key is not None and (not isinstance(key, str) or not key.strip("/")):
            raise FlowimgError(f"{self.kind} key must be a non-empty object path like 'flows/my_flow.py'")
        if credentials_secret is not None and (not isinstance(credentials_secret, str) or not credentials_secret):
            raise FlowimgError(f"{self.kind} credentials_secret must be the NAME of a secret, e.g. '{self.default_secret}'")
        self.bucket = bucket
        self.key = key
        self.local_script_path = local_script_path
        self.credentials_secret = credentials_secret
        self._uploads: Dict[str, Tuple[str, Optional[str], Optional[bytes]]] = {}  # key -> (flow, file, pickle)
        self._client: Optional[ObjectClient] = None
        self._secret_values: List[str] = []

    # --- what a subclass provides -------------------------------------------------------------
    @abstractmethod
    def make_client(self, credentials: Optional[Dict[str, Any]]) -> ObjectClient:
        """Build the client (importing its library lazily) with the parsed secret, if any."""
        raise NotImplementedError

    @abstractmethod
    def endpoint(self) -> str:
        """The host the client talks to, for messages."""
        raise NotImplementedError

    # --- locations ----------------------------------------------------------------------------
    def uri(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    def location_for(self, flow: Flow, script_path: Optional[str]) -> str:
        if not self.stored_as_script:
            data = flow_to_bytes(flow)
            key = self.key or pickle_key(flow, data)
            self._plan_upload(key, flow, None, data)
            return key
        local = self.local_script_path or script_path
        if local:
            if not os.path.isfile(local):
                raise FlowimgError(
                    f"local script {os.path.abspath(local)} for flow '{flow.name}' does not exist; "
                    "check local_script_path (or the -p path)"
                )
            local = os.path.abspath(local)
            key = self.key or script_key(flow, local)
            self._plan_upload(key, flow, local, None)
            return key
        if self.key:
            return self.key
        raise FlowimgError(
            f"{self.kind} storage of flow '{flow.name}' has stored_as_script=True but neither key nor "
            f"local_script_path; pass key='path/in_bucket.py' (an object you uploaded), "
            "local_script_path='my_flow.py', or register with -p FILE"
        )

    def _plan_upload(self, key: str, flow: Flow, local: Optional[str], data: Optional[bytes]) -> None:
        planned = self._uploads.get(key)
        if planned is not None and planned[0] != flow.name and (planned[1], planned[2]) != (local, data):
            raise FlowimgError(
                f"flows '{planned[0]}' and '{flow.name}' would both be uploaded to {self.uri(key)} "
                "with different contents; give each its own storage or key"
            )
        self._uploads[key] = (flow.name, local, data)

    # --- build and fetch ----------------------------------------------------------------------
    def build(self, push: bool = True, log: Log = _quiet) -> None:
        """Upload scripts and new pickles; check that user-uploaded scripts exist."""
        for name, key in sorted(self.flows.items()):
            planned = self._uploads.get(key)
            if planned is None:
                if self.stored_as_script:
                    if not self._call("check", key, lambda key=key: self.client().exists(key)):
                        self._raise_missing(key, "check")
                    log(f"Flow '{name}': using {self.uri(key)}")
                continue
            _, local, data = planned
            if local is not None:
                with open(local, "rb") as fh:
                    body = fh.read()
                content_type, what = SCRIPT_CONTENT_TYPE, f"script {local}"
            else:
                assert data is not None
                if self.key is None and self._call("check", key, lambda key=key: self.client().exists(key)):
                    log(f"Flow '{name}': pickle already in {self.uri(key)}; skipping upload")
                    continue
                body, content_type, what = data, PICKLE_CONTENT_TYPE, "pickle"
            if not push:
                log(f"Flow '{name}': would upload {what} to {self.uri(key)} (push disabled)")
                continue
            version = self._call("upload", key, lambda key=key, body=body, kind=content_type: self.client().put(key, body, kind))
            log(f"Flow '{name}': uploaded {what} to {self.uri(key)}" + (f" ({version})" if version else ""))

    def get_flow(self, flow_name: str, log: Log = _quiet) -> Flow:
        key = self._flow_location(flow_name)
        data, version = self._call("download", key, lambda: self.client().get(key))
        uri = self.uri(key)
        log(f"Fetched {uri}" + (f" ({version})" if version else ""))
        if not self.stored_as_script:
            return flow_from_bytes(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise FlowimgError(f"{uri} is not a UTF-8 text flow script; check the key") from None
        return pick_flow(load_script(uri, text=text), flow_name, uri)

    # --- settings and secrets -----------------------------------------------------------------
    def common_settings(self) -> Dict[str, Any]:
        # local_script_path is left out on purpose: it is a registration-time input on one machine,
        # not needed to find the flow (the key in `flows` is), and would make settings machine-specific.
        return {"bucket": self.bucket, "key": self.key, "credentials_secret": self.credentials_secret}

    def secret_names(self) -> List[str]:
        return [self.credentials_secret or self.default_secret]

    def image_requirements(self) -> List[str]:
        return [self.requirement]

    def describe(self) -> str:
        return f"{self.kind} {self.scheme}://{self.bucket}"

    def credentials(self) -> Optional[Dict[str, Any]]:
        """The parsed credentials secret: the named one (must exist) or the default one (if set)."""
        name = self.credentials_secret or self.default_secret
        value = find_secret(name)
        if value is None:
            if self.credentials_secret:
                raise FlowimgError(
                    f"{self.kind} credentials secret '{name}' not found: set the environment variable "
                    f"{name} or add it to the flowimg secrets file"
                )
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise FlowimgError(f"{self.kind} credentials secret '{name}' must hold a JSON object; fix the secret")
        self._secret_values = [value] + [str(parsed[f]) for f in self.secret_fields if parsed.get(f)]
        return parsed

    def client(self) -> ObjectClient:
        if self._client is None:
            self._client = self.make_client(self.credentials())
        return self._client

    def missing_client(self) -> FlowimgError:
        return FlowimgError(f"{self.kind} storage needs {self.client_package}: pip install 'flowimg[{self.extra}]'")

    # --- errors -------------------------------------------------------------------------------
    def _within_deadline(self, action: str, key: str, fn: Any) -> Any:
        return within_deadline(fn, f"{self.kind}: {action} {self.uri(key)} at", self.endpoint())

    def _call(self, action: str, key: str, fn: Any) -> Any:
        try:
            return self._within_deadline(action, key, fn)
        except ObjectStoreFailure as failure:
            if failure.kind in (MISSING, NO_BUCKET):
                self._raise_missing(key, action, bucket_known_missing=failure.kind == NO_BUCKET)
            raise FlowimgError(self._explain(failure, action, key)) from None

    def _raise_missing(self, key: str, action: str, bucket_known_missing: bool = False) -> None:
        bucket_missing = bucket_known_missing
        if not bucket_missing:
            try:
                bucket_missing = not self._within_deadline("check", key, lambda: self.client().bucket_exists())
            except ObjectStoreFailure:
                bucket_missing = False  # cannot tell (e.g. no permission on the bucket); blame the key
        if bucket_missing:
            raise FlowimgError(
                f"{self.kind} bucket '{self.bucket}' does not exist (or is not visible to these credentials); "
                "create it or fix bucket="
            )
        if action == "upload":
            raise FlowimgError(f"cannot upload to {self.uri(key)}: the bucket answered 'not found'")
        hint = (
            "upload the flow script there, pass local_script_path=..., or register with -p FILE"
            if self.stored_as_script else "re-register the flow"
        )
        raise FlowimgError(f"{self.uri(key)} does not exist (bucket '{self.bucket}', key '{key}'); {hint}")

    def _explain(self, failure: ObjectStoreFailure, action: str, key: str) -> str:
        where = self.uri(key)
        secret = self.credentials_secret or self.default_secret
        detail = f" ({redact(one_line(failure.detail), self._secret_values)})" if failure.detail else ""
        if failure.kind == DENIED:
            return (
                f"access denied to {where} while trying to {action} it{detail}; check the credentials: "
                f"secret '{secret}' or the default {self.kind} credential chain, and their permissions "
                f"on bucket '{self.bucket}'"
            )
        if failure.kind == UNREACHABLE:
            return (
                f"cannot reach the {self.kind} endpoint to {action} {where}{detail}; "
                "check the endpoint setting and the network"
            )
        if failure.kind == NO_CREDENTIALS:
            return (
                f"no {self.kind} credentials found to {action} {where}; set secret '{secret}' "
                f"or configure the default {self.kind} credential chain"
            )
        if failure.kind == INVALID:
            return f"{self.kind} refused the request to {action} {where}{detail}; check the storage options"
        return f"{self.kind} failed to {action} {where}{detail}"


def one_line(text: str, limit: int = 200) -> str:
    """Client messages can span lines; keep errors to one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
