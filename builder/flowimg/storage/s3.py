"""S3 (and S3-compatible) storage: only boto3's calls live here; the rest is in object_store."""
from __future__ import annotations

import json
import os

from ..errors import FlowimgError
from .object_store import (
    DENIED, INVALID, MISSING, NO_BUCKET, NO_CREDENTIALS, OTHER, UNREACHABLE,
    ErrorSorter, ObjectClient, ObjectStorage, ObjectStoreFailure, describe_version, one_line,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

CREDENTIAL_OPTIONS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
# Both spellings Prefect 1 accepted for the AWS_CREDENTIALS secret.
SECRET_FIELDS = {
    "aws_access_key_id": ("ACCESS_KEY", "aws_access_key_id"),
    "aws_secret_access_key": ("SECRET_ACCESS_KEY", "aws_secret_access_key"),
    "aws_session_token": ("SESSION_TOKEN", "aws_session_token"),
}
DENIED_CODES = {
    "403", "401", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AccountProblem", "Forbidden",
}
MISSING_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}


class S3Client(ObjectClient):
    def __init__(self, s3: Any, bucket: str, upload_options: Dict[str, Any]) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.upload_options = upload_options

    def get(self, key: str) -> Tuple[bytes, str]:
        with _sorted_errors():
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
            data = response["Body"].read()
        return data, describe_version(ETag=response.get("ETag"), version=response.get("VersionId"))

    def put(self, key: str, data: bytes, content_type: str) -> str:
        options = dict(self.upload_options)
        options.setdefault("ContentType", content_type)
        with _sorted_errors():
            response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **options)
        return describe_version(ETag=response.get("ETag"), version=response.get("VersionId"))

    def exists(self, key: str) -> bool:
        try:
            with _sorted_errors():
                self.s3.head_object(Bucket=self.bucket, Key=key)
        except ObjectStoreFailure as failure:
            if failure.kind == MISSING:
                return False
            raise
        return True

    def bucket_exists(self) -> bool:
        try:
            with _sorted_errors():
                self.s3.head_bucket(Bucket=self.bucket)
        except ObjectStoreFailure as failure:
            if failure.kind in (MISSING, NO_BUCKET):
                return False
            raise
        return True


class _sorted_errors(ErrorSorter):
    """Turn boto3/botocore exceptions into ObjectStoreFailure kinds."""

    def sort(self, exc: BaseException) -> None:
        from botocore import exceptions as bex

        if isinstance(exc, bex.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            detail = one_line(f"{code}: {error.get('Message') or 'no message'}")
            if code == "NoSuchBucket":
                raise ObjectStoreFailure(NO_BUCKET, detail) from None
            if code in MISSING_CODES or status == "404":
                raise ObjectStoreFailure(MISSING, detail) from None
            if code in DENIED_CODES or status in ("401", "403"):
                raise ObjectStoreFailure(DENIED, detail) from None
            raise ObjectStoreFailure(OTHER, detail) from None
        if isinstance(exc, bex.NoCredentialsError):
            raise ObjectStoreFailure(NO_CREDENTIALS) from None
        if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ProxyConnectionError)):
            raise ObjectStoreFailure(UNREACHABLE, one_line(str(exc))) from None
        if isinstance(exc, bex.ParamValidationError):
            raise ObjectStoreFailure(INVALID, one_line(str(exc))) from None
        if isinstance(exc, bex.BotoCoreError):
            raise ObjectStoreFailure(OTHER, one_line(str(exc))) from None


class S3(ObjectStorage):
    """Flows as objects in an S3 bucket; `client_options` go to boto3.client('s3', ...).

    Credentials: the secret named by credentials_secret (else AWS_CREDENTIALS, when set), else
    boto3's default chain. A custom endpoint comes from client_options['endpoint_url'] or the
    standard AWS_ENDPOINT_URL environment variable.
    """

    kind = "S3"
    scheme = "s3"
    default_secret = "AWS_CREDENTIALS"
    client_package = "boto3"
    extra = "s3"
    requirement = "boto3"
    secret_fields = tuple(name for names in SECRET_FIELDS.values() for name in names)

    def __init__(self, bucket: str, key: Optional[str] = None, stored_as_script: bool = False,
                 local_script_path: Optional[str] = None, client_options: Optional[Dict[str, Any]] = None,
                 upload_options: Optional[Dict[str, Any]] = None,
                 credentials_secret: Optional[str] = None) -> None:
        super().__init__(bucket, key=key, stored_as_script=stored_as_script,
                         local_script_path=local_script_path, credentials_secret=credentials_secret)
        self.client_options = _plain_options("client_options", client_options)
        self.upload_options = _plain_options("upload_options", upload_options)
        leaked = sorted(k for k in self.client_options if k in CREDENTIAL_OPTIONS)
        if leaked:
            raise FlowimgError(
                f"S3 client_options must not hold credentials ({', '.join(leaked)}): they would be stored "
                f"with the flow; put them in a secret named {self.default_secret} (or credentials_secret=...)"
            )

    def endpoint(self) -> str:
        return str(self.client_options.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3")
                   or os.environ.get("AWS_ENDPOINT_URL") or "the S3 endpoint of the configured region")

    def make_client(self, credentials: Optional[Dict[str, Any]]) -> ObjectClient:
        try:
            import boto3
        except ImportError:
            raise self.missing_client() from None
        options = dict(self.client_options)
        if credentials is not None:
            for option, names in SECRET_FIELDS.items():
                value = next((credentials[n] for n in names if credentials.get(n)), None)
                if value is not None:
                    options[option] = value
            if "aws_access_key_id" not in options or "aws_secret_access_key" not in options:
                raise FlowimgError(
                    f"S3 credentials secret '{self.credentials_secret or self.default_secret}' needs "
                    "ACCESS_KEY and SECRET_ACCESS_KEY (or aws_access_key_id and aws_secret_access_key)"
                )
        try:
            # A session of its own: boto3's default session caches the credentials it found first.
            return S3Client(boto3.session.Session().client("s3", **options), self.bucket, self.upload_options)
        except Exception as exc:  # bad region/endpoint options are reported by botocore at creation
            raise FlowimgError(f"cannot create the S3 client from client_options: {one_line(str(exc))}") from None

    def settings(self) -> Dict[str, Any]:
        return dict(self.common_settings(), client_options=self.client_options or None,
                    upload_options=self.upload_options or None)


def _plain_options(name: str, options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Options are stored with the flow, so they must be plain JSON."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise FlowimgError(f"S3 {name} must be a dict of plain values, e.g. {{'region_name': 'eu-west-1'}}")
    try:
        json.dumps(options)
    except (TypeError, ValueError):
        raise FlowimgError(f"S3 {name} must hold plain JSON values (strings, numbers...) only") from None
    return dict(options)
