"""The registry client's HTTP/1.1 against a real socket server on loopback: chunked and
Content-Length bodies, keep-alive reuse, a server closing a kept-alive connection, bad framing,
answers trickling in small pieces, TLS, and plain HTTP without the socket module."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from hostile_servers import DualServer, SilentServer, self_signed_certificate
from flowimg.image import http1
from flowimg.image.http1 import MAX_LINE, Connection, ProtocolError
from flowimg.image.registry_client import Registry, RegistryError


class Scripted:
    """Answers each accepted connection's requests with the next canned responses, in order; an answer
    given as a list of pieces goes out one piece at a time, a millisecond apart, so the client's reads
    see it split."""

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
                    for piece in answer if isinstance(answer, list) else [answer]:
                        conn.sendall(piece)
                        time.sleep(0.001 if isinstance(answer, list) else 0)


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


def bytewise(data):
    return [data[i:i + 1] for i in range(len(data))]


def test_an_answer_split_across_many_small_reads_is_put_back_together():
    big = bytes(range(256)) * 1200  # 300 KiB: several reads straight into the body's buffer
    server = Scripted([bytewise(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello"),
                       bytewise(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
                       [b"HTTP/1.1 200 OK\r\nContent-Len", b"gth: %d\r\n\r" % len(big), b"\n" + big[:7],
                        big[7:100000], big[100000:]],
                       bytewise(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /x\r\n\r\n")])
    conn = Connection(server.netloc, tls=False, timeout=5)
    assert conn.request("GET", "/a", {}) == (200, {"content-length": "5", "x-a": "1"}, b"hello")
    assert conn.request("GET", "/b", {})[2] == b"abcde"
    assert conn.request("GET", "/c", {})[2] == big
    assert conn.request("PUT", "/d", {}, b"")[:2] == (201, {"location": "/x"})
    conn.close()


def test_a_header_line_is_refused_one_byte_past_the_limit():
    line = b"X-Big: " + b"a" * (MAX_LINE - 9) + b"\r\n"  # exactly MAX_LINE bytes with its line end
    server = Scripted([b"HTTP/1.1 200 OK\r\n" + line + b"Content-Length: 2\r\n\r\nok"],
                      [b"HTTP/1.1 200 OK\r\nX" + line + b"Content-Length: 2\r\n\r\nok"])
    conn = Connection(server.netloc, tls=False, timeout=5)
    status, headers, body = conn.request("GET", "/", {})
    assert (status, len(headers["x-big"]), body) == (200, MAX_LINE - 9, b"ok")
    conn.close()
    with pytest.raises(ProtocolError, match="header line longer than 64 KiB"):
        conn.request("GET", "/", {})
    conn.close()


def test_a_server_closing_in_the_middle_is_an_error_not_a_short_answer():
    server = Scripted([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc"],
                      [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Cut"],
                      [b"HTTP/1.1 200 OK\r\n\r\nno length: the body runs to the close"],
                      [])
    conn = Connection(server.netloc, tls=False, timeout=5)
    with pytest.raises(ProtocolError, match="3 of 5 bytes"):
        conn.request("GET", "/", {})
    with pytest.raises(ProtocolError, match="malformed header line b'X-Cut'"):
        conn.request("GET", "/", {})
    conn.close()
    assert conn.request("GET", "/", {})[2] == b"no length: the body runs to the close"
    assert conn.sock is None  # closed with the answer; the next request opens a new connection
    with pytest.raises(ConnectionResetError):  # Disconnected, or a reset if it closed before reading
        conn.request("GET", "/", {})


def test_each_address_is_tried_in_turn_and_the_first_failure_is_reported(monkeypatch):
    """As socket.create_connection: a resolver whose first address refuses still connects."""
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    closed = socket.create_server(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    resolve = http1._socket.getaddrinfo
    monkeypatch.setattr(http1._socket, "getaddrinfo", lambda host, port, *rest: (
        resolve(host, dead_port, *rest) + resolve(host, port, *rest)))
    assert Connection(server.netloc, tls=False, timeout=5).request("GET", "/", {})[2] == b"ok"
    with pytest.raises(ConnectionRefusedError):
        Connection(f"127.0.0.1:{dead_port}", tls=False, timeout=5).request("GET", "/", {})


def test_tls_goes_through_the_same_reader(tmp_path, monkeypatch):
    certificate = self_signed_certificate(str(tmp_path))
    monkeypatch.setenv("SSL_CERT_FILE", certificate["cert"])  # the default context trusts it
    with DualServer(**certificate) as server:
        conn = Connection(f"127.0.0.1:{server.port}", tls=True, timeout=5)
        status, headers, body = conn.request("GET", "/v2/", {"Authorization": "Bearer t"})
    assert (status, headers["location"], body) == (302, f"http://127.0.0.1:{server.port}/v2/", b"")
    assert server.tls_heads[0].startswith("GET /v2/ HTTP/1.1\r\n") and server.plain_heads == []
    assert conn.sock is None  # the answer said Connection: close


def test_a_registry_that_never_answers_ends_at_the_deadline():
    with SilentServer() as silent:
        client = Registry(f"127.0.0.1:{silent.port}", use_docker_config=False, timeout=1)
        started = time.monotonic()
        with pytest.raises(RegistryError, match=f"registry 127.0.0.1:{silent.port} did not finish within 1 s"):
            client.manifest_digest("x", "latest")
    assert time.monotonic() - started < 5


def test_plain_http_never_imports_the_socket_module():
    """The socket module's import costs a warm build milliseconds; plain HTTP runs on _socket."""
    server = Scripted([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"])
    probe = ("import sys\nfrom flowimg.image.registry_client import Registry\n"
             "client = Registry(sys.argv[1], use_docker_config=False, timeout=5)\n"
             "print(client.ping(), 'socket' in sys.modules, 'ssl' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", probe, server.netloc], capture_output=True, text=True,
                            env=os.environ, timeout=60)
    assert result.stdout.split() == ["True", "False", "False"], result.stderr
    assert server.requests[0].startswith(b"GET /v2/ HTTP/1.1\r\n")
