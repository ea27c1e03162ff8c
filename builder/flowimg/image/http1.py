"""HTTP/1.1 on one socket, for the registry client: keep-alive, Content-Length and chunked bodies.

The standard library's http.client would do, but importing it (its email parser and ssl) costs more
time than a warm rebuild's whole push. This is the part of HTTP the OCI distribution API uses; TLS
(ssl) is imported only for a registry that is not plain HTTP.
"""
from __future__ import annotations

import socket
from typing import IO, Dict, List, Optional, Tuple

MAX_LINE = 65536
MAX_HEADERS = 200
_BIG = 1 << 16  # bodies up to this size go out in one write with the head


class ProtocolError(OSError):
    """The server broke HTTP/1.1 framing (or closed the connection in the middle of an answer)."""


class Disconnected(ConnectionResetError):
    """The server closed the connection before answering: a kept-alive one may just have gone stale."""


def split_netloc(netloc: str, tls: bool) -> Tuple[str, int]:
    """'host', 'host:5000', '[::1]:5000' -> (host, port), the port defaulting by scheme."""
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif netloc.count(":") == 1:
        host, _, port = netloc.partition(":")
    else:
        host, port = netloc, ""
    if port and not port.isdigit():
        raise ProtocolError(f"bad port in {netloc!r}")
    return host, int(port) if port else (443 if tls else 80)


def _clean(text: str, what: str) -> str:
    if any(c in text for c in "\r\n\0"):
        raise ProtocolError(f"refused to send a {what} holding a line break")
    return text


class Connection:
    """One keep-alive connection to `netloc`; `request` reconnects when a previous answer closed it."""

    def __init__(self, netloc: str, tls: bool, timeout: float) -> None:
        self.netloc, self.tls, self.timeout = netloc, tls, timeout
        self.sock: Optional[socket.socket] = None
        self._file: Optional[IO[bytes]] = None

    def settimeout(self, seconds: float) -> None:
        self.timeout = seconds
        if self.sock is not None:
            self.sock.settimeout(seconds)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self.sock is not None:
            self.sock.close()
        self.sock = self._file = None

    def _open(self) -> socket.socket:
        host, port = split_netloc(self.netloc, self.tls)
        # An ASCII name as bytes: getaddrinfo would otherwise load the idna codec to encode it.
        address = (host.encode() if host.isascii() else host, port)
        sock = socket.create_connection(address, timeout=self.timeout)  # type: ignore[arg-type]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock, self._file = sock, sock.makefile("rb")
        return sock

    def request(self, method: str, target: str, headers: Dict[str, str],
                body: Optional[bytes] = None) -> Tuple[int, Dict[str, str], bytes]:
        """(status, headers by lower-case name, body); the last of repeated headers wins."""
        sock = self.sock or self._open()
        lines = [f"{method} {_clean(target, 'target').replace(' ', '%20')} HTTP/1.1", f"Host: {self.netloc}",
                 "Accept-Encoding: identity"]
        lines += [f"{_clean(name, 'header')}: {_clean(value, 'header')}" for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body and len(body) > _BIG:
            sock.sendall(head)
            sock.sendall(body)
        else:
            sock.sendall(head + (body or b""))
        status, answer = self._head()
        while 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            status, answer = self._head()
        data = self._body(method, status, answer)
        if answer.get("connection", "").lower() == "close":
            self.close()
        return status, answer, data

    def _line(self) -> bytes:
        assert self._file is not None
        line = self._file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("the server sent a header line longer than 64 KiB")
        return line

    def _head(self) -> Tuple[int, Dict[str, str]]:
        first = self._line()
        if not first:
            self.close()
            raise Disconnected("the server closed the connection without answering")
        parts = first.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ProtocolError(f"the server answered something that is not HTTP: {first[:60]!r}")
        headers: Dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self._line()
            if line in (b"\r\n", b"\n", b""):
                return int(parts[1]), headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError(f"the server sent a malformed header line {line[:60]!r}")
            headers[name.strip().lower()] = value.strip()
        raise ProtocolError(f"the server sent more than {MAX_HEADERS} headers")

    def _exactly(self, size: int) -> bytes:
        assert self._file is not None
        data = self._file.read(size)
        if len(data) < size:
            self.close()
            raise ProtocolError(f"the server closed the connection {len(data)} of {size} bytes into an answer")
        return data

    def _body(self, method: str, status: int, headers: Dict[str, str]) -> bytes:
        if method == "HEAD" or status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked()
        if "content-length" in headers:
            try:
                size = int(headers["content-length"])
            except ValueError:
                raise ProtocolError(f"the server sent Content-Length {headers['content-length']!r}") from None
            return self._exactly(size)
        assert self._file is not None
        data = self._file.read()  # no length: the body runs to the end of the connection
        self.close()
        return data

    def _chunked(self) -> bytes:
        chunks: List[bytes] = []
        while True:
            size_text = self._line().split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"the server sent a bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self._exactly(size))
            self._exactly(2)
