"""Extra real registries on loopback for the registry builder: htpasswd basic auth, token auth with a
small token server, and a plain one a test may kill. Each is Debian's `docker-registry`, started here
and stopped by its PID; the base image is pushed into the tests' registry once per session."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import pytest

from docker_service import BASE_IMAGE, REGISTRY, docker
from ports import free_port

USER, PASSWORD = "flowimg", "s3cret-pw-42"
SERVICE, ISSUER = "flowimg-test-registry", "flowimg-test-issuer"


@dataclass
class RunningRegistry:
    host: str
    config: Path
    process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        log = open(self.config.with_suffix(".log"), "ab")
        self.process = subprocess.Popen(["docker-registry", "serve", str(self.config)], stdout=log, stderr=log)
        for _ in range(60):
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # 401: up, and asking for credentials
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"registry on {self.host} did not start; see {self.config.with_suffix('.log')}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def _registry(folder: Path, auth: str = "") -> RunningRegistry:
    port = free_port()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n{auth}")
    return RunningRegistry(host=f"127.0.0.1:{port}", config=config)


@pytest.fixture(scope="session")
def base_in_registry(engine):
    """The debootstrapped base image, pushed once into the tests' registry, where the builder reads it."""
    ref = f"{REGISTRY}/flowimg/python-base:bookworm"
    docker("tag", BASE_IMAGE, ref)
    docker("push", ref)
    return ref


@pytest.fixture
def plain_registry(tmp_path):
    registry = _registry(tmp_path / "plain-registry")
    registry.start()
    yield registry
    registry.kill()


@pytest.fixture
def basic_registry(tmp_path):
    import bcrypt

    folder = tmp_path / "basic-registry"
    folder.mkdir()
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (folder / "htpasswd").write_text(f"{USER}:{hashed}\n")
    registry = _registry(folder, f"auth:\n  htpasswd:\n    realm: flowimg-test\n    path: {folder / 'htpasswd'}\n")
    registry.start()
    yield registry
    registry.kill()


def _libtrust_key_id(der_public_key: bytes) -> str:
    """The `kid` the registry derives from its root certificate: base32 of a SHA-256 prefix, in fours."""
    encoded = base64.b32encode(hashlib.sha256(der_public_key).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class TokenServer:
    """Issues RS256 JWTs for the scopes asked, to USER:PASSWORD only (Docker's token auth spec)."""

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flowimg-test-token")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_path = folder / "token.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _libtrust_key_id(der)
        self.requests: list = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, scopes: list) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64url(signature)}"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                from urllib.parse import parse_qs, urlsplit

                query = parse_qs(urlsplit(self.path).query)
                server.requests.append(query)
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_registry(tmp_path):
    folder = tmp_path / "token-registry"
    folder.mkdir()
    tokens = TokenServer(folder)
    registry = _registry(folder, f"auth:\n  token:\n    realm: {tokens.url}\n    service: {SERVICE}\n"
                                 f"    issuer: {ISSUER}\n    rootcertbundle: {tokens.cert_path}\n")
    registry.start()
    yield registry, tokens
    registry.kill()
    tokens.close()


def docker_config(folder: Path, host: str, user: str = USER, password: str = PASSWORD) -> dict:
    """A DOCKER_CONFIG folder whose config.json holds `auths` for host, as `docker login` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(folder)}


def env_without_docker_config(tmp_path: Path) -> dict:
    empty = tmp_path / "no-docker-config"
    empty.mkdir(exist_ok=True)
    return {"DOCKER_CONFIG": str(empty), "HOME": os.environ.get("HOME", str(tmp_path))}
