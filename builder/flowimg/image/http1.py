"""HTTP/1.1 on one socket, for the registry client: keep-alive, Content-Length and chunked bodies.

The standard library's http.client would do, but importing it (its email parser and ssl) costs more
time than a warm rebuild's whole push. This is the part of HTTP the OCI distribution API uses. Plain
HTTP runs on the C module _socket, as the socket module's own import (its enum conversions, selectors)
takes a few milliseconds of a warm build's start-up for nothing used here. TLS (ssl, which imports
socket) loads only for a registry that is not plain HTTP.
"""
from __future__ import annotations

import _socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

MAX_LINE = 65536
MAX_HEADERS = 200
_BIG = 1 << 16  # bodies up to this size go out in one write with the head
_RECV = 1 << 16  # bytes asked of the socket per read

Timeout = _socket.timeout  # socket.timeout, without importing socket


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


def _connect(host: str, port: int, timeout: float) -> _socket.socket:
    """socket.create_connection: each address getaddrinfo gives, in turn, until one connects."""
    # An ASCII name as bytes: getaddrinfo would otherwise load the idna codec to encode it.
    name = host.encode() if host.isascii() else host
    errors: List[OSError] = []
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            errors.append(exc)
    raise errors[0] if errors else OSError(f"getaddrinfo found no address for {host}")


class _Reader:
    """Buffered reads by recv from a plain or TLS socket: a line up to a limit, a size, the rest."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def _fill(self) -> bool:
        """False when the server has closed its side."""
        data = self.sock.recv(_RECV)
        self.buffer += data
        return bool(data)

    def readline(self, limit: int) -> bytes:
        """Up to and with the next line feed, at most `limit` bytes; shorter (or b'') where the stream ends."""
        searched = 0
        while True:
            end = self.buffer.find(b"\n", searched, limit)
            if end >= 0:
                return self._take(end + 1)
            if len(self.buffer) >= limit:
                return self._take(limit)
            searched = len(self.buffer)
            if not self._fill():
                return self._take(searched)

    def read(self, size: int) -> bytes:
        """`size` bytes, or fewer when the stream ends first."""
        if len(self.buffer) >= size:
            return self._take(size)
        data = bytearray(size)
        got = len(self.buffer)
        data[:got] = self.buffer
        self.buffer.clear()
        with memoryview(data) as view:
            while got < size:
                count = self.sock.recv_into(view[got:])
                if not count:
                    break
                got += count
        del data[got:]
        return bytes(data)

    def read_all(self) -> bytes:
        """Everything up to the end of the stream."""
        while self._fill():
            pass
        return self._take(len(self.buffer))


class Connection:
    """One keep-alive connection to `netloc`; `request` reconnects when a previous answer closed it."""

    def __init__(self, netloc: str, tls: bool, timeout: float) -> None:
        self.netloc, self.tls, self.timeout = netloc, tls, timeout
        self.sock: Optional[_socket.socket] = None
        self._reader: Optional[_Reader] = None

    def settimeout(self, seconds: float) -> None:
        self.timeout = seconds
        if self.sock is not None:
            self.sock.settimeout(seconds)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = self._reader = None

    def _open(self) -> _socket.socket:
        host, port = split_netloc(self.netloc, self.tls)
        sock = _connect(host, port, self.timeout)
        if self.tls:
            import socket
            import ssl

            plain = socket.socket(fileno=sock.detach())  # the type ssl wraps; it keeps no timeout
            plain.settimeout(self.timeout)
            sock = ssl.create_default_context().wrap_socket(plain, server_hostname=host)
        self.sock, self._reader = sock, _Reader(sock)
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
        assert self._reader is not None
        line = self._reader.readline(MAX_LINE + 1)
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
        assert self._reader is not None
        data = self._reader.read(size)
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
        assert self._reader is not None
        data = self._reader.read_all()  # no length: the body runs to the end of the connection
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
