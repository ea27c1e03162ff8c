"""image/tarball.py writes the bytes tarfile and gzip wrote before it, so no context or layer digest moved."""
import gzip
import io
import os
import sys
import tarfile

import pytest

from flowimg.errors import FlowimgError
from flowimg.image import tarball
from flowimg.image.context import FIXED_MTIME, Entry, write_tar
from flowimg.image.layers import make_layer

LONG = "d" * 99  # with its trailing "/" a folder name of exactly 100 characters still fits ustar
UNDECODABLE = os.fsdecode(b"caf\xe9.py")  # a name that is not UTF-8: a surrogate after fsdecode


def _old_info(name, size, mode, kind=tarfile.REGTYPE, target="", mtime=FIXED_MTIME):
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.uid, info.gid, info.uname, info.gname = size, mtime, 0, 0, "", ""
    info.type, info.mode, info.linkname = kind, mode, target
    return info


def old_write_tar(entries, fileobj, mtime=FIXED_MTIME):
    """The members as image/context.py wrote them with tarfile until image/tarball.py replaced it."""
    names = set(entries)
    parents = {"/".join(n.split("/")[:i]) for n in names for i in range(1, n.count("/") + 1)}
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(parents | names):
            entry = entries.get(name, Entry(kind="dir"))
            if entry.kind == "blob":
                tar.addfile(_old_info(name, len(entry.data), 0o644, mtime=mtime), io.BytesIO(entry.data))
            elif entry.kind == "link":
                tar.addfile(_old_info(name, 0, 0o777, tarfile.SYMTYPE, entry.target, mtime=mtime))
            elif entry.kind == "file":
                with open(entry.path, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    tar.addfile(_old_info(name, size, 0o755 if entry.executable else 0o644, mtime=mtime), fh)
            else:
                tar.addfile(_old_info(name, 0, 0o755, tarfile.DIRTYPE, mtime=mtime))


def every_kind(tmp_path):
    """Files of sizes around block edges, executable or not, folders, links, blobs; names and link targets
    over 100 characters, at exactly 100, not ASCII, not UTF-8."""
    files = {"empty": b"", "one": b"x", "block": b"b" * 512, "under": b"u" * 511, "over": b"o" * 513,
             "big.bin": os.urandom(70000), "é.py": "ü = 1\n".encode(), "run.sh": b"#!/bin/sh\n",
             "n" * 100: b"exactly 100", "m" * 101: b"over 100", UNDECODABLE: b"latin-1 name"}
    entries = {}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        entries[f"src/{name}"] = Entry(kind="file", path=str(path), executable=name == "run.sh")
    entries["src/" + LONG] = Entry(kind="dir", path=str(tmp_path))
    entries["src/" + LONG + "/deep/" + "x" * 150 + ".py"] = Entry(kind="blob", data=b"deep = True\n")
    entries["src/nested/a/b/c.txt"] = Entry(kind="blob", data=b"c")
    entries["src/blob-empty"] = Entry(kind="blob", data=b"")
    entries["src/link"] = Entry(kind="link", target="one")
    entries["src/long-link"] = Entry(kind="link", target="/".join([".."] * 40) + "/one")
    entries["src/link-é"] = Entry(kind="link", target="é.py")
    entries["src/link-latin"] = Entry(kind="link", target=UNDECODABLE)
    entries["top-level-blob"] = Entry(kind="blob", data=b"t" * 10241)
    return entries


@pytest.mark.parametrize("mtime", [FIXED_MTIME, 0, 1700000000, -1, 8 ** 11])
def test_tar_bytes_equal_what_tarfile_wrote(tmp_path, mtime):
    entries = every_kind(tmp_path)
    old = io.BytesIO()
    old_write_tar(entries, old, mtime=mtime)
    parts = []
    write_tar(entries, parts.append, mtime=mtime)
    new = b"".join(parts)
    assert len(new) % tarball.RECORD == 0
    assert b"21 hdrcharset=BINARY\n" in new and b" linkpath=" in new and b" path=" in new
    if sys.version_info >= (3, 9):  # 3.8's tarfile also wrote device numbers "0000000" for every member
        assert new == old.getvalue()
    with tarfile.open(fileobj=io.BytesIO(new)) as tar:
        members = {m.name: m for m in tar}
    assert members["src/" + "m" * 101].size == len(b"over 100")
    assert members["src/long-link"].linkname == entries["src/long-link"].target
    assert members["src/" + UNDECODABLE].name == "src/" + UNDECODABLE
    assert members["src/run.sh"].mode == 0o755 and members["src/one"].mode == 0o644
    assert members["src/" + LONG].isdir() and members["src/nested/a"].isdir()
    assert {m.mtime for m in members.values()} == {mtime}


def test_one_huge_size_goes_into_a_pax_header():
    raw = tarball.header("big", 8 ** 11, 0o644, tarball.REGULAR, 0)
    old = _old_info("big", 8 ** 11, 0o644, mtime=0).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    assert raw == old and b" size=8589934592\n" in raw


def test_gzip_framing_equals_gzip_with_the_header_pinned(tmp_path):
    """Layers were gzip.compress(mtime=0), the context gzip.GzipFile(mtime=0): the same deflate stream and
    trailer; the OS byte each wrote on Python 3.11 is pinned (3.8-3.10 and 3.13 wrote 255 for layers)."""
    parts = []
    write_tar(every_kind(tmp_path), parts.append)
    raw = b"".join(parts)
    layer = tarball.gzip(raw, tarball.LAYER_OS)
    assert layer[:10] == bytes.fromhex("1f8b0800000000000003")
    assert layer[10:] == gzip.compress(raw, compresslevel=6, mtime=0)[10:]
    context = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=context, mtime=0) as gz:
        gz.write(raw)
    streamed = []
    sink = tarball.GzipStream(streamed.append, tarball.CONTEXT_OS)
    for start in range(0, len(raw), 4000):  # fed in pieces, as write_tar does
        sink.write(raw[start:start + 4000])
    sink.close()
    assert b"".join(streamed) == context.getvalue()
    assert context.getvalue()[:10] == bytes.fromhex("1f8b08000000000000ff")
    assert gzip.decompress(layer) == raw


def test_layer_digest_is_pinned(monkeypatch):
    """The digest a fixed layer had before image/tarball.py, on this machine's Python 3.11 and zlib."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    layer = make_layer("code", {"opt/flows/flow.py": Entry(kind="blob", data=b"print('hi')\n"),
                                "opt/flows/" + "é" * 60 + ".py": Entry(kind="blob", data=b"")}, "COPY")
    assert layer.diff_id == "sha256:ef05bac0dce46b5693d974629d287325bfd717912901fad56c1a338ee7b19a41"
    assert layer.digest == "sha256:c8eedb65b858adcb274ac4db253e9238add3d785528fffba7f91608614047c74"


def test_a_file_that_shrinks_while_written_is_an_error(tmp_path):
    path = tmp_path / "f.py"
    path.write_bytes(b"x" * 100)

    class Shrinking:
        def __init__(self):
            self.parts = []

        def __call__(self, data):
            if not self.parts:
                path.write_bytes(b"x")
            self.parts.append(data)

    with pytest.raises(FlowimgError, match="changed or vanished while the build context was written"):
        write_tar({"f.py": Entry(kind="file", path=str(path))}, Shrinking())
