"""Google Cloud Storage: only google-cloud-storage's calls live here; the rest is in object_store."""
from __future__ import annotations

import os
import re

from ..deadline import network_timeout
from ..errors import FlowimgError
from .object_store import (
    DENIED, INVALID, MISSING, NO_CREDENTIALS, OTHER, UNREACHABLE,
    ErrorSorter, ObjectClient, ObjectStorage, ObjectStoreFailure, describe_version, one_line,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]
# Nothing listening is not worth two minutes of back-off; other connection errors still retry.
_NOT_LISTENING = ("Connection refused", "Name or service not known", "nodename nor servname",
                  "Failed to resolve", "No address associated")

# api_core prefixes messages with the request ("GET https://...: "); the reason is what helps.
_REQUEST_PREFIX = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD) \S+: ")


def _retry() -> Any:
    from google.cloud.storage.retry import DEFAULT_RETRY, _should_retry

    def should_retry(exc: BaseException) -> bool:
        return _should_retry(exc) and not any(text in str(exc) for text in _NOT_LISTENING)

    # Retrying stops at the network deadline too (the caller has given up by then).
    return DEFAULT_RETRY.with_predicate(should_retry).with_deadline(network_timeout())


class GCSClient(ObjectClient):
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket_name = bucket
        self.bucket = client.bucket(bucket)
        self.retry = _retry()

    def get(self, key: str) -> Tuple[bytes, str]:
        with _sorted_errors():
            blob = self.bucket.get_blob(key, retry=self.retry)
            if blob is None:
                raise ObjectStoreFailure(MISSING)
            generation, md5 = blob.generation, blob.md5_hash  # before download rewrites them from headers
            data = blob.download_as_bytes(if_generation_match=generation, retry=self.retry)
        return data, describe_version(generation=generation, md5=md5)

    def put(self, key: str, data: bytes, content_type: str) -> str:
        blob = self.bucket.blob(key)
        with _sorted_errors():
            blob.upload_from_string(data, content_type=content_type, retry=self.retry)
        return describe_version(generation=blob.generation, md5=blob.md5_hash)

    def exists(self, key: str) -> bool:
        with _sorted_errors():
            return self.bucket.get_blob(key, retry=self.retry) is not None

    def bucket_exists(self) -> bool:
        with _sorted_errors():
            return self.client.lookup_bucket(self.bucket_name, retry=self.retry) is not None


class _sorted_errors(ErrorSorter):
    """Turn google-cloud-storage / google-auth / requests exceptions into ObjectStoreFailure kinds."""

    def sort(self, exc: BaseException) -> None:
        import requests
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        if isinstance(exc, api.RetryError):   # retries ran out: say what the last attempt met
            raise ObjectStoreFailure(UNREACHABLE, one_line(_root_cause(exc))) from None
        if isinstance(exc, api.GoogleAPICallError):
            detail = one_line(f"{exc.code}: {_REQUEST_PREFIX.sub('', str(exc.message))}")
            if isinstance(exc, api.NotFound):
                raise ObjectStoreFailure(MISSING, detail) from None
            if isinstance(exc, (api.Forbidden, api.Unauthorized)):
                raise ObjectStoreFailure(DENIED, detail) from None
            if isinstance(exc, api.BadRequest):
                raise ObjectStoreFailure(INVALID, detail) from None
            raise ObjectStoreFailure(OTHER, detail) from None
        if isinstance(exc, auth.DefaultCredentialsError):
            raise ObjectStoreFailure(NO_CREDENTIALS) from None
        if isinstance(exc, auth.TransportError) or isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            raise ObjectStoreFailure(UNREACHABLE, one_line(_root_cause(exc))) from None
        if isinstance(exc, auth.RefreshError):
            raise ObjectStoreFailure(DENIED, one_line(f"token refresh failed: {exc}")) from None
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:
            raise ObjectStoreFailure(MISSING) from None
        if status in (401, 403):
            raise ObjectStoreFailure(DENIED, f"HTTP {status}") from None
        if isinstance(exc, auth.GoogleAuthError):
            raise ObjectStoreFailure(OTHER, one_line(str(exc))) from None


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return f"{type(exc).__name__}: {exc}"


class GCS(ObjectStorage):
    """Flows as objects in a GCS bucket.

    Credentials: the secret named by credentials_secret (else GCP_CREDENTIALS, when set) holding
    a service-account JSON, else Google's default credentials. STORAGE_EMULATOR_HOST points the
    client at an emulator (anonymous credentials unless a secret is given).
    """

    kind = "GCS"
    scheme = "gs"
    default_secret = "GCP_CREDENTIALS"
    client_package = "google-cloud-storage"
    extra = "gcs"
    requirement = "google-cloud-storage"
    secret_fields = ("private_key", "private_key_id", "client_secret", "refresh_token")

    def __init__(self, bucket: str, key: Optional[str] = None, project: Optional[str] = None,
                 stored_as_script: bool = False, local_script_path: Optional[str] = None,
                 credentials_secret: Optional[str] = None) -> None:
        super().__init__(bucket, key=key, stored_as_script=stored_as_script,
                         local_script_path=local_script_path, credentials_secret=credentials_secret)
        self.project = project

    def endpoint(self) -> str:
        return os.environ.get("STORAGE_EMULATOR_HOST") or "storage.googleapis.com"

    def make_client(self, credentials: Optional[Dict[str, Any]]) -> ObjectClient:
        try:
            from google.cloud import storage
        except ImportError:
            raise self.missing_client() from None
        options: Dict[str, Any] = {}
        project = self.project
        if credentials is not None:
            options["credentials"], secret_project = self._credentials_from(credentials)
            project = project or secret_project
        elif os.environ.get("STORAGE_EMULATOR_HOST"):
            from google.auth.credentials import AnonymousCredentials

            options["credentials"] = AnonymousCredentials()
        if project:
            options["project"] = project
        try:
            with _sorted_errors():
                return GCSClient(storage.Client(**options), self.bucket)
        except ObjectStoreFailure as failure:
            if failure.kind == NO_CREDENTIALS:
                raise FlowimgError(
                    f"no GCS credentials found for gs://{self.bucket}; set secret '{self.default_secret}' "
                    "(a service-account JSON), credentials_secret=..., or Google's default credentials"
                ) from None
            raise FlowimgError(f"cannot create the GCS client: {failure.detail}") from None

    def _credentials_from(self, info: Dict[str, Any]) -> Tuple[Any, Optional[str]]:
        name = self.credentials_secret or self.default_secret
        if info.get("type", "service_account") != "service_account":
            raise FlowimgError(
                f"GCS credentials secret '{name}' must hold a service-account key JSON "
                f"(its type is '{info.get('type')}')"
            )
        try:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        except Exception as exc:
            reason = type(exc).__name__
            if isinstance(exc, ValueError) and "missing fields" in str(exc):
                reason = one_line(str(exc))
            raise FlowimgError(
                f"GCS credentials secret '{name}' is not usable Google credentials ({reason}); "
                "it must hold a service-account key JSON"
            ) from None
        return credentials, info.get("project_id")

    def settings(self) -> Dict[str, Any]:
        return dict(self.common_settings(), project=self.project)
