"""SHA-256 without loading OpenSSL for the small inputs a build and a check hash.

Importing hashlib loads libcrypto, about 5 ms: more than an edit-and-build hashes (a script, a structure, a
config, a few KB of code layer). CPython's own SHA-256 module, the one hashlib falls back to, gives the same
digests at about a seventh of OpenSSL's speed, so inputs over SMALL bytes still go to hashlib. Standard
library only: images run this too.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib

SMALL = 1 << 20  # bytes; above this OpenSSL's speed is worth its import

try:
    from _sha256 import sha256 as _builtin  # Python 3.8-3.11
except ImportError:
    try:
        from _sha2 import sha256 as _builtin  # Python 3.12+
    except ImportError:
        _builtin = None  # a Python built without it: hashlib's, always


def sha256(data: bytes = b"") -> "hashlib._Hash":
    """A SHA-256 hash object seeded with `data`, for keys built from small parts (and `data` of any size)."""
    if _builtin is None or len(data) > SMALL:
        import hashlib

        return hashlib.sha256(data)
    return _builtin(data)  # type: ignore[no-any-return]


def sha256_hex(data: bytes) -> str:
    return sha256(data).hexdigest()
