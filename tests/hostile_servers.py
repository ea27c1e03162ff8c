"""Loopback servers that misbehave on purpose, for the hostile-input tests (no Docker needed).

- `SilentServer` accepts connections and never sends a byte (a host that never answers).
- `TrickleServer` answers HTTP 200 with a long body, one byte every `interval` seconds, so no single
  read ever times out.
- `RedirectServer` answers every HTTP request with a 302 to the same path on another base URL.
- `DualServer` speaks TLS and plain HTTP on one port (it looks at the first byte), so an
  https -> http redirect stays on the same host and port; TLS requests are redirected to plain HTTP,
  and the plain-HTTP requests' headers are recorded.
"""
from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from typing import Dict, List, Optional

HEAD_END = b"\r\n\r\n"


class TcpServer:
    """Accepts on 127.0.0.1 at a free port; each connection is handled in its own daemon thread."""

    scheme = "http"

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.stopped = threading.Event()
        self.connections: List[socket.socket] = []
        self.heads: List[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(10)
            self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except (OSError, ssl.SSLError):
            pass

    def handle(self, conn: socket.socket) -> None:
        """Hold the connection open and say nothing."""

    def read_head(self, conn: socket.socket) -> str:
        data = b""
        while HEAD_END not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        head = data.split(HEAD_END, 1)[0].decode("latin-1")
        self.heads.append(head)
        return head

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def __enter__(self) -> "TcpServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SilentServer(TcpServer):
    """A host that accepts TCP connections and never answers."""


class TrickleServer(TcpServer):
    """HTTP 200 with a 1 MB JSON body sent one byte every `interval` seconds."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        self.read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
        while not self.stopped.wait(self.interval):
            conn.sendall(b" ")


def _path(head: str) -> str:
    parts = head.split(" ", 2)
    return parts[1] if len(parts) > 1 else "/"


def headers_of(head: str) -> Dict[str, str]:
    """Header names (lower-cased) to values, from a raw request head."""
    found = {}
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        found[key.strip().lower()] = value.strip()
    return found


class RedirectServer(TcpServer):
    """Every request -> 302 to `target` + the same path and query."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        head = self.read_head(conn)
        location = self.target + _path(head)
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode("latin-1"))


def self_signed_certificate(folder: str) -> Dict[str, str]:
    """A certificate for IP 127.0.0.1 and its key, made with the openssl command."""
    cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"cert": cert, "key": key}


class DualServer(TcpServer):
    """TLS and plain HTTP on one port: https requests get a 302 to http on the same host and port;
    plain requests are recorded (`plain_heads`) and answered 404 in GitHub's shape."""

    scheme = "https"

    def __init__(self, cert: str, key: str) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.plain_heads: List[str] = []
        self.tls_heads: List[str] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        first: Optional[bytes] = conn.recv(1, socket.MSG_PEEK)
        if first == b"\x16":   # a TLS handshake record
            tls = self.context.wrap_socket(conn, server_side=True)
            head = self.read_head(tls)
            self.tls_heads.append(head)
            location = f"http://127.0.0.1:{self.port}{_path(head)}"
            tls.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n".encode("latin-1"))
            tls.close()
            return
        head = self.read_head(conn)
        self.plain_heads.append(head)
        body = b'{"message": "Not Found"}'
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
