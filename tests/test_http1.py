"""The registry client's HTTP/1.1 against a real socket server on loopback: chunked and
Content-Length bodies, keep-alive reuse, a server closing a kept-alive connection, and bad framing."""
from __future__ import annotations

import socket
import threading

import pytest

from flowimg.image.http1 import Connection, ProtocolError
from flowimg.image.registry_client import Registry, RegistryError


class Scripted:
    """Answers each accepted connection's requests with the next canned responses, in order."""

    def __init__(self, *connections):
        self.connections = list(connections)
        self.requests = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.netloc = f"127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        for answers in self.connections:
            conn, _ = self.server.accept()
            with conn, conn.makefile("rb") as reader:
                for answer in answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            return
                        head += line
                    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                                   if h.lower().startswith(b"content-length:")), 0)
                    self.requests.append(head + reader.read(length))
                    conn.sendall(answer)


def test_bodies_by_length_and_by_chunks_on_one_kept_alive_connection():
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
                       b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
                       b"HTTP/1.1 204 No Content\r\n\r\n"])
    conn = Connection(server.netloc, tls=False, timeout=5)
    assert conn.request("GET", "/a", {}) == (200, {"content-length": "5", "x-a": "1"}, b"hello")
    assert conn.request("GET", "/b", {})[2] == b"abcde"
    assert conn.request("PUT", "/c", {"Content-Type": "x"}, b"body")[0] == 204
    assert server.requests[2].startswith(b"PUT /c HTTP/1.1\r\nHost: " + server.netloc.encode())
    assert b"Content-Length: 4\r\n" in server.requests[2] and server.requests[2].endswith(b"\r\n\r\nbody")
    conn.close()


def test_a_stale_kept_alive_connection_is_retried_once_on_a_new_one():
    server = Scripted([b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'],  # then closes
                      [b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'])
    client = Registry(server.netloc, use_docker_config=False, timeout=5)
    assert client.ping() and client.ping()
    assert len(server.requests) == 2


def test_bad_framing_and_header_injection_are_errors_not_hangs():
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], [b"SSH-2.0-OpenSSH\r\n\r\n"])
    conn = Connection(server.netloc, tls=False, timeout=5)
    with pytest.raises(ProtocolError, match="5 of 10 bytes"):
        conn.request("GET", "/", {})
    with pytest.raises(ProtocolError, match="not HTTP"):
        conn.request("GET", "/", {})
    with pytest.raises(ProtocolError, match="line break"):
        conn.request("GET", "/", {"Authorization": "Bearer x\r\nEvil: 1"})
    server.server.close()
    dead = Registry(server.netloc, use_docker_config=False, timeout=5)
    with pytest.raises(RegistryError, match="cannot reach registry"):
        dead.manifest_digest("x", "latest")
