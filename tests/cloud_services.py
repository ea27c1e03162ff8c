"""pytest plugin: real object-storage servers on loopback for the S3 and GCS storage tests.

- S3: `moto_server` (moto[server]) - a real HTTP server speaking the S3 REST protocol. A second
  instance has IAM authentication switched on (moto's `/moto-api/reset-auth` server API), so
  wrong or unprivileged keys get the same 403 AccessDenied / InvalidAccessKeyId answers as AWS.
- GCS: `gcp-storage-emulator` - a real HTTP server speaking the GCS JSON API; the client reaches
  it through STORAGE_EMULATOR_HOST, exactly as users point it at an emulator.
- GCS "access denied": the emulator never checks credentials, so `gcs_forbidding_endpoint` is a
  tiny loopback HTTP server that answers every storage call with the JSON body real GCS sends
  for a missing IAM permission (HTTP 403, reason "forbidden"), and serves an OAuth token
  endpoint so a service-account secret goes through google-auth's real JWT-for-token exchange.

Servers are subprocesses (or a thread, for the fake) on 127.0.0.1 with free ports, started once
per session and stopped by PID at the end.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Dict, Iterator, List

import pytest

from ports import free_port

VENV_BIN = os.path.dirname(sys.executable)
REGION = "us-east-1"


def _executable(name: str) -> str:
    path = os.path.join(VENV_BIN, name)
    if not os.path.exists(path):
        pytest.fail(f"{name} is not installed in this environment (pip install -e '.[dev]')", pytrace=False)
    return path


class ServerProcess:
    """A server subprocess we started; stopped by its own PID, never by name."""

    def __init__(self, args: List[str], port: int, log_path: str, env: Dict[str, str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL)

    def wait_until_answering(self, path: str, timeout: float = 30.0) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.url + path, timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # it answered, even if with an error status
            except OSError:
                time.sleep(0.1)
        self.stop()
        with open(self.log_path, "rb") as fh:
            tail = fh.read()[-2000:].decode(errors="replace")
        raise RuntimeError(f"server {self.url} did not answer within {timeout}s; log tail:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def _clean_env() -> Dict[str, str]:
    env = dict(os.environ)
    for name in ("INITIAL_NO_AUTH_ACTION_COUNT", "MOTO_ENABLE_IAM", "AWS_ENDPOINT_URL", "STORAGE_EMULATOR_HOST"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="session")
def _moto_server(tmp_path_factory) -> Iterator[ServerProcess]:
    port = free_port()
    log = str(tmp_path_factory.mktemp("moto") / "moto_server.log")
    server = ServerProcess([_executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, log, _clean_env())
    try:
        server.wait_until_answering("/moto-api/")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(_moto_server) -> str:
    """URL of a moto S3 server on loopback (no authentication checks)."""
    return _moto_server.url


@pytest.fixture(scope="session")
def _gcs_emulator(tmp_path_factory) -> Iterator[ServerProcess]:
    port = free_port()
    folder = tmp_path_factory.mktemp("gcs")
    args = [_executable("gcp-storage-emulator"), "-d", str(folder / "data"), "start",
            "--host", "127.0.0.1", "--port", str(port), "--in-memory", "--quiet"]
    server = ServerProcess(args, port, str(folder / "gcs-emulator.log"), _clean_env())
    try:
        server.wait_until_answering("/storage/v1/b")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_endpoint(_gcs_emulator) -> str:
    """URL of gcp-storage-emulator on loopback; use it as STORAGE_EMULATOR_HOST."""
    return _gcs_emulator.url


def unique_bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def aws_env(monkeypatch, tmp_path) -> None:
    """Dummy default-chain keys; nothing from the developer's own AWS set-up leaks in."""
    for name in ("AWS_CREDENTIALS", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def s3_admin_client(endpoint: str, **keys: str):
    import boto3

    keys = keys or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **keys)


@pytest.fixture
def s3_bucket(s3_endpoint, aws_env) -> str:
    """A fresh, empty bucket on the moto server."""
    name = unique_bucket("flowimg-test")
    s3_admin_client(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_iam(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """A moto server that checks signatures and IAM policies, with two users:

    `writer` (s3:* on everything) and `reader` (no S3 permission at all). Users are made while
    authentication is still off, then `/moto-api/reset-auth 0` turns it on for every request.
    """
    import urllib.request

    port = free_port()
    log = str(tmp_path_factory.mktemp("moto-iam") / "moto_server.log")
    server = ServerProcess([_executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, log, _clean_env())
    try:
        server.wait_until_answering("/moto-api/")
        import boto3

        iam = boto3.client("iam", endpoint_url=server.url, region_name=REGION,
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        keys = {}
        for user, actions in (("writer", ["s3:*"]), ("reader", [])):
            iam.create_user(UserName=user)
            if actions:
                iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
                }))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
        request = urllib.request.Request(server.url + "/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "text/plain"})
        answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
        assert answer.get("status") == "ok", answer
        yield SimpleNamespace(endpoint=server.url, writer=keys["writer"], reader=keys["reader"])
    finally:
        server.stop()


@pytest.fixture
def gcs_env(monkeypatch, gcs_endpoint) -> str:
    """Point google-cloud-storage at the emulator; no developer credentials leak in."""
    for name in ("GCP_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    return gcs_endpoint


def gcs_admin_client():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="flowimg-test", credentials=AnonymousCredentials())


@pytest.fixture
def gcs_bucket(gcs_env) -> str:
    """A fresh, empty bucket in the GCS emulator."""
    name = unique_bucket("flowimg-test")
    gcs_admin_client().create_bucket(name)
    return name


class _ForbiddingGCS(BaseHTTPRequestHandler):
    """Real GCS's answers for a caller without permission, plus an OAuth token endpoint."""

    ACCESS_TOKEN = "ya29.flowimg-test-access-token"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append({"method": self.command, "path": self.path,  # type: ignore[attr-defined]
                                 "authorization": self.headers.get("Authorization"), "body": body})
        if self.path.startswith("/token"):
            self._reply(200, {"access_token": self.ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
            return
        message = ("flowimg-reader@flowimg-test.iam.gserviceaccount.com does not have storage.objects.get "
                   "access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on "
                   "resource (or it may not exist).")
        self._reply(403, {"error": {"code": 403, "message": message,
                                    "errors": [{"message": message, "domain": "global", "reason": "forbidden"}]}})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@pytest.fixture
def gcs_forbidding_endpoint(monkeypatch) -> Iterator[SimpleNamespace]:
    """STORAGE_EMULATOR_HOST pointing at a server that denies everything like GCS does."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForbiddingGCS)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("GCP_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    try:
        yield SimpleNamespace(url=url, seen=server.seen, token_uri=url + "/token",  # type: ignore[attr-defined]
                              access_token=_ForbiddingGCS.ACCESS_TOKEN)
    finally:
        server.shutdown()
        server.server_close()
