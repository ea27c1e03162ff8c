"""flowimg.digests: the same SHA-256 as hashlib's, small inputs without loading OpenSSL."""
import hashlib
import subprocess
import sys

import pytest

from flowimg import digests


@pytest.mark.parametrize("size", [0, 1, 64, 4096, digests.SMALL, digests.SMALL + 1, 3 * digests.SMALL])
def test_the_digest_is_hashlibs(size):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert digests.sha256_hex(data) == hashlib.sha256(data).hexdigest()
    incremental = digests.sha256(data[:size // 2])
    incremental.update(data[size // 2:])
    assert incremental.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("python", [sys.executable, "/root/.pyenv/versions/3.8.18/bin/python"], ids=["this", "3.8"])
def test_small_inputs_do_not_load_openssl(python):
    import flowimg

    root = flowimg.__file__.rsplit("/flowimg/", 1)[0]
    probe = (f"import sys; sys.path.insert(0, {root!r})\nfrom flowimg import digests\n"
             "print(digests.sha256_hex(b'abc'), '_hashlib' in sys.modules)")
    out = subprocess.run([python, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == [hashlib.sha256(b"abc").hexdigest(), "False"]
