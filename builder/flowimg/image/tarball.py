"""Deterministic tar members and their gzip framing, written here instead of with tarfile and gzip.

The bytes are exactly those tarfile's PAX format (Python 3.9-3.13) and gzip wrote before for the same
members, so no digest changed; pinned here, they no longer vary with the Python that builds: 3.8's
tarfile wrote device numbers for every member, and gzip.compress(mtime=0) wrote OS byte 3 on 3.11-3.12
but 255 elsewhere. Importing tarfile and gzip (with shutil, bz2, lzma, struct) cost every build ~5 ms.
"""
from __future__ import annotations

import zlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List

BLOCK = 512
RECORD = 20 * BLOCK  # tarfile pads the archive to whole records, as `tar -b20` does
REGULAR, SYMLINK, DIRECTORY = b"0", b"2", b"5"
LEVEL = 6
# gzip's 10-byte header with no name and mtime 0: XFL 0 (level 6), then the OS byte. The build context
# was written by gzip.GzipFile (OS 255, "unknown"), layers by gzip.compress (OS 3 on Python 3.11).
CONTEXT_OS, LAYER_OS = 255, 3
_MAX_OCTAL = 8 ** 11  # what a 12-byte octal field holds; larger (or negative) goes into the pax header
_PAX = b"x"


def header(name: str, size: int, mode: int, kind: bytes, mtime: int, target: str = "") -> bytes:
    """A member's header: a pax extended header first when a name, link target or number does not fit
    ustar (over 100 characters, not ASCII, out of octal range), then the ustar block."""
    if kind == DIRECTORY and not name.endswith("/"):
        name += "/"
    pax: Dict[str, str] = {}
    for key, value in (("path", name), ("linkpath", target)):
        if len(value) > 100 or not value.isascii():
            pax[key] = value
    if not 0 <= size < _MAX_OCTAL:
        pax["size"], size = str(size), 0
    if not 0 <= mtime < _MAX_OCTAL:
        pax["mtime"], mtime = str(mtime), 0
    return (_pax_header(pax) if pax else b"") + _ustar(name, mode, size, mtime, kind, target)


def padding(size: int) -> bytes:
    """The NULs that end a member's data on a block boundary."""
    return b"\0" * (-size % BLOCK)


def end(offset: int) -> bytes:
    """Two zero blocks, then zeros up to a whole record, after `offset` bytes of members."""
    return b"\0" * (2 * BLOCK + (-(offset + 2 * BLOCK) % RECORD))


def _field(text: str, length: int) -> bytes:
    return text.encode("ascii", "replace")[:length].ljust(length, b"\0")


def _ustar(name: str, mode: int, size: int, mtime: int, kind: bytes, target: str) -> bytes:
    block = b"".join((
        _field(name, 100), b"%07o\0" % (mode & 0o7777), b"0000000\0" * 2, b"%011o\0" % size, b"%011o\0" % mtime,
        b" " * 8, kind, _field(target, 100), b"ustar\x0000", b"\0" * (32 + 32 + 8 + 8 + 155 + 12),
    ))
    return block[:148] + b"%06o\0" % sum(block) + block[155:]  # the checksum counts its own field as spaces


def _pax_header(values: Dict[str, str]) -> bytes:
    """Records `<length> <key>=<value>\\n`; a value with undecodable bytes (surrogates) marks them all binary."""
    try:
        for value in values.values():
            value.encode("utf-8")
        records, errors = b"", "strict"
    except UnicodeEncodeError:
        records, errors = b"21 hdrcharset=BINARY\n", "surrogateescape"
    for key, value in values.items():
        body = b" %s=%s\n" % (key.encode(), value.encode("utf-8", errors))
        digits = len(str(len(body)))
        while len(str(len(body) + digits)) != digits:
            digits += 1
        records += str(len(body) + digits).encode() + body
    return _ustar("././@PaxHeader", 0, len(records), 0, _PAX, "") + records + padding(len(records))


def gzip_header(os_byte: int) -> bytes:
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00" + bytes((os_byte,))


class GzipStream:
    """A file-like sink that gzips what it is given into `write`, with the header of `gzip_header`."""

    def __init__(self, write: Callable[[bytes], object], os_byte: int) -> None:
        self._out, self._crc, self._size = write, 0, 0
        self._deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        write(gzip_header(os_byte))

    def write(self, data: bytes) -> int:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        packed = self._deflate.compress(data)
        if packed:
            self._out(packed)
        return len(data)

    def close(self) -> None:
        self._out(self._deflate.flush() + self._crc.to_bytes(4, "little")
                  + (self._size & 0xFFFFFFFF).to_bytes(4, "little"))


def gzip(data: bytes, os_byte: int) -> bytes:
    parts: List[bytes] = []
    stream = GzipStream(parts.append, os_byte)
    stream.write(data)
    stream.close()
    return b"".join(parts)
