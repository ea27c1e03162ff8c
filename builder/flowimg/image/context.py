"""A deterministic build context: the same inputs give the same bytes and the same digest.

Entries are sorted, mtimes fixed, owners 0, modes normalised and gzip carries no timestamp or name,
so an unchanged flow never busts the engine's cache and the digest can name the context.
The tar.gz is streamed in chunks to a file (or only hashed, for `plan`), never held in memory.

What a mapped folder may hold is decided explicitly: regular files and folders are copied, symlinks
that stay inside the folder are kept as links, and links leaving it, dangling links, special files
(FIFO, socket, device) and unreadable paths are refused with the path and the fix.
"""
from __future__ import annotations

import os
import stat

from ..digests import sha256
from ..errors import FlowimgError
from ..home import cache_path, read_cached, write_cached
from ..manifest import MANIFEST_PATH
from ..record import Record
from . import tarball
from .ignore import DEFAULT_PATTERNS, IGNORE_FILE, Rule, excluder, ignored, parse_rules
from .spec import CODE_DIR, ImageSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, IO, List, Optional, Tuple

FIXED_MTIME = 315532800  # 1980-01-01, the earliest time zip-based tools accept too
RUNTIME_DIR = "flowimg/lib"
DEFAULT_RULES = parse_rules(list(DEFAULT_PATTERNS))


class Entry(Record):
    """One context member: a local file or folder, a symlink (kept as a link) or bytes made here."""

    __slots__ = ("kind", "path", "target", "data", "executable")
    kind: str  # file | dir | link | blob
    path: str
    target: str
    data: bytes
    executable: bool

    def __init__(self, kind: str, path: str = "", target: str = "", data: bytes = b"",
                 executable: bool = False) -> None:
        self.kind, self.path, self.target, self.data, self.executable = kind, path, target, data, executable


class Collected(Record):
    __slots__ = ("entries", "excluded", "patterns")
    entries: Dict[str, Entry]
    excluded: List[str]
    patterns: List[str]

    def __init__(self) -> None:
        self.entries, self.excluded, self.patterns = {}, [], []


class BuildContext(Record):
    __slots__ = ("digest", "names", "excluded", "patterns")
    digest: str
    names: Tuple[str, ...]
    excluded: Tuple[str, ...]  # local paths left out by .flowimgignore and the default patterns
    patterns: Tuple[str, ...]  # the ignore patterns applied to mapped folders

    def __init__(self, digest: str, names: Tuple[str, ...], excluded: Tuple[str, ...] = (),
                 patterns: Tuple[str, ...] = ()) -> None:
        self.digest, self.names, self.excluded, self.patterns = digest, names, excluded, patterns


def _fix(root: Optional[str]) -> str:
    """Inside a mapped folder the fix is an ignore rule; a path named in `files` itself is fixed there."""
    return f"remove it or list it in {os.path.join(root, IGNORE_FILE)}" if root else "fix files={...}"


def _regular(path: str, root: Optional[str], st: os.stat_result, check_read: bool = True) -> Entry:
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise FlowimgError(f"{path} is {kind}; images get only regular files, folders and links: {_fix(root)}")
    try:
        if check_read:
            with open(path, "rb"):
                pass
    except OSError as exc:
        raise FlowimgError(f"cannot read {path} ({exc.strerror}); make it readable (chmod a+r) or {_fix(root)}") from None
    return Entry(kind="file", path=path, executable=bool(st.st_mode & stat.S_IXUSR))


def _link(path: str, root: str, rules: Tuple[Rule, ...]) -> Entry:
    """A link inside the mapped folder stays a link (relative, so it works at its image path)."""
    resolved = os.path.realpath(path)
    if not os.path.exists(resolved):
        raise FlowimgError(f"{path} is a symlink to {os.readlink(path)}, which does not exist; fix the link or {_fix(root)}")
    real_root = os.path.realpath(root)
    if resolved != real_root and not resolved.startswith(real_root.rstrip("/") + "/"):
        raise FlowimgError(
            f"{path} is a symlink to {resolved}, outside the mapped folder {root}, which is not copied into "
            f"images; map that file in files= itself, or {_fix(root)}"
        )
    if resolved != real_root and ignored(rules, os.path.relpath(resolved, real_root)):
        raise FlowimgError(f"{path} is a symlink to {resolved}, which the ignore patterns leave out of the image; "
                           f"{_fix(root)}, or take the target back in with a !pattern")
    return Entry(kind="link", path=path, target=os.path.relpath(resolved, os.path.realpath(os.path.dirname(path))))


def _folder(root: str, name: str, rules: Tuple[Rule, ...], out: Collected,
            keep: Optional[Callable[[str], bool]] = None, report: bool = False) -> None:
    """Everything under `root` that the rules keep, as `name/...`; with `report`, excluded paths are listed."""
    rescue = any(rule.negate for rule in rules)
    excluded = excluder(rules)

    def visit(folder: str, rel: str) -> None:
        try:
            children = sorted(os.listdir(folder))
        except OSError as exc:
            raise FlowimgError(
                f"cannot read folder {folder} ({exc.strerror}); make it readable (chmod a+rx) or {_fix(root)}"
            ) from None
        for child in children:
            path, child_rel = os.path.join(folder, child), f"{rel}/{child}" if rel else child
            st = os.lstat(path)
            is_dir = stat.S_ISDIR(st.st_mode)
            if excluded(child_rel):
                if report:
                    out.excluded.append(os.path.join(root, child_rel) + ("/" if is_dir else ""))
                if is_dir and rescue:  # a later `!pattern` may take something below back in
                    visit(path, child_rel)
                continue
            if keep is not None and not is_dir and not keep(child):
                continue
            target = f"{name}/{child_rel}"
            if stat.S_ISLNK(st.st_mode):
                out.entries[target] = _link(path, root, rules)
            elif is_dir:
                out.entries[target] = Entry(kind="dir", path=path)
                visit(path, child_rel)
            else:
                out.entries[target] = _regular(path, root, st)

    out.entries[name] = Entry(kind="dir", path=root)
    visit(root, "")


def _folder_rules(root: str) -> Tuple[Rule, ...]:
    path = os.path.join(root, IGNORE_FILE)
    if not os.path.isfile(path):
        return DEFAULT_RULES
    try:
        with open(path, encoding="utf-8") as fh:
            return DEFAULT_RULES + parse_rules(fh.read().splitlines())
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowimgError(f"cannot read {path} ({exc}); make it a readable UTF-8 text file") from None


def add_source(source: str, name: str, out: Collected) -> None:
    """A `files` source: the path the user named is followed; inside a folder, links are checked."""
    real = os.path.realpath(source)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise FlowimgError(f"cannot read files source {source} ({exc.strerror}); fix the path in files={{...}}") from None
    if not stat.S_ISDIR(st.st_mode):
        out.entries[name] = _regular(source, None, st)
        return
    rules = _folder_rules(real)
    out.patterns.extend(rule.pattern for rule in rules if rule.pattern not in out.patterns)
    _folder(real, name, rules, out, report=True)


# The parts of flowimg only this machine runs, left out of the runtime an image holds: building, checking and
# pushing images, the CLI, registration, the backend, agents, targets and deployments. An image loads and
# runs flows; tests/test_runtime_layer.py holds every module it keeps importable without these.
_FLOWIMG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this package's own folder
HOST_ONLY = frozenset([
    "agent.py", "backend", "build_commands.py", "building.py", "cli.py", "collect.py", "deploy", "help_pages.py",
    "launch.py", "registration.py", "run_record.py", "running.py", "runs_view.py", "scheduling.py", "targets",
    "watching.py", "image/buildkit.py", "image/context.py", "image/engine.py", "image/head_start.py",
    "image/healthcheck.py", "image/http1.py", "image/ignore.py", "image/layers.py", "image/prestart.py",
    "image/registry_builder.py", "image/registry_client.py", "image/render.py", "image/tarball.py",
])


def package_sources(package_dir: str, target: str, out: Collected) -> None:
    """The .py files of a pure-Python package, for copying it into an image without pip or network.

    The same entries as a mapped folder would give under the default rules, but walked once per
    process with scandir: these are installed packages, not user files that need checking one by one."""
    if package_dir not in _PACKAGES:
        found: Dict[str, Entry] = {}
        root = package_dir.rstrip("/")
        rules = excluder(DEFAULT_RULES)
        excluded = (lambda rel: rel in HOST_ONLY or rules(rel)) if os.path.abspath(root) == _FLOWIMG else rules
        _package_folder(root, root, os.path.basename(root), "", found, excluded)
        _PACKAGES[package_dir] = found
    out.entries.update((f"{target}/{name}", entry) for name, entry in _PACKAGES[package_dir].items())


def walked_stat(path: str) -> os.stat_result:
    """A package file's stat from the walk that found it (taken once per process, as its name was)."""
    return _STATS.get(path) or os.stat(path)


_PACKAGES: Dict[str, Dict[str, Entry]] = {}
_STATS: Dict[str, os.stat_result] = {}


def _package_folder(root: str, folder: str, name: str, rel: str, found: Dict[str, Entry],
                    excluded: Callable[[str], bool]) -> None:
    found[name] = Entry(kind="dir", path=folder)
    with os.scandir(folder) as scan:
        children = sorted(scan, key=lambda child: child.name)
    for child in children:
        is_dir = child.is_dir(follow_symlinks=False)
        if not is_dir and not child.name.endswith(".py"):
            continue  # cheaper than the ignore rules, and only sources are copied
        child_rel = f"{rel}/{child.name}" if rel else child.name
        if excluded(child_rel):
            continue
        if is_dir:
            _package_folder(root, child.path, f"{name}/{child.name}", child_rel, found, excluded)
        elif child.is_symlink():
            found[f"{name}/{child.name}"] = _link(child.path, root, DEFAULT_RULES)
        else:
            st = _STATS[child.path] = child.stat(follow_symlinks=False)
            found[f"{name}/{child.name}"] = _regular(child.path, root, st, check_read=False)


def collect(spec: ImageSpec, dockerfile: str, runtime_packages: List[str]) -> Collected:
    """Every member the Dockerfile copies, checked, with no file content read."""
    out = Collected()
    for package_dir in runtime_packages:
        package_sources(package_dir, RUNTIME_DIR, out)
    for copy in spec.copies:
        add_source(copy.source, copy.context_name, out)
    if spec.wheelhouse:
        _folder(spec.wheelhouse, "wheelhouse", DEFAULT_RULES, out)
    out.entries["Dockerfile"] = Entry(kind="blob", data=dockerfile.encode())
    out.entries[CODE_DIR + MANIFEST_PATH] = Entry(kind="blob", data=spec.manifest_text.encode())
    for image_path, data in spec.pickles:
        out.entries[CODE_DIR + image_path] = Entry(kind="blob", data=data)
    return out


class _HashingWriter:
    """A sink for the gzip stream: hashes every chunk and passes it on to `out`, if any."""

    def __init__(self, out: Optional[IO[bytes]]) -> None:
        import hashlib  # a whole context streams through: OpenSSL's speed

        self.out, self.sha = out, hashlib.sha256()

    def write(self, chunk: bytes) -> int:
        self.sha.update(chunk)
        if self.out is not None:
            self.out.write(chunk)
        return len(chunk)


def _add(write: Callable[[bytes], object], name: str, entry: Entry, mtime: int) -> None:
    if entry.kind == "blob":
        write(tarball.header(name, len(entry.data), 0o644, tarball.REGULAR, mtime))
        write(entry.data)
        write(tarball.padding(len(entry.data)))
    elif entry.kind == "link":
        write(tarball.header(name, 0, 0o777, tarball.SYMLINK, mtime, entry.target))
    elif entry.kind == "file":
        try:
            with open(entry.path, "rb") as fh:
                size = left = os.fstat(fh.fileno()).st_size
                write(tarball.header(name, size, 0o755 if entry.executable else 0o644, tarball.REGULAR, mtime))
                while left:
                    chunk = fh.read(min(left, 1 << 20))
                    if not chunk:
                        raise OSError("unexpected end of data")
                    write(chunk)
                    left -= len(chunk)
        except OSError as exc:
            raise FlowimgError(f"{entry.path} changed or vanished while the build context was written ({exc}); "
                               "build again") from None
        write(tarball.padding(size))
    else:
        write(tarball.header(name, 0, 0o755, tarball.DIRECTORY, mtime))


def write_tar(entries: Dict[str, Entry], write: Callable[[bytes], object], mtime: int = FIXED_MTIME) -> None:
    """An uncompressed tar of `entries` by name, parents included, sorted, into `write`.

    Shared by the build context and the registry builder's layers, so both normalise files alike.
    """
    names = set(entries)
    parents = {"/".join(n.split("/")[:i]) for n in names for i in range(1, n.count("/") + 1)}
    offset = 0

    def counted(data: bytes) -> None:
        nonlocal offset
        offset += len(data)
        write(data)

    for name in sorted(parents | names):
        _add(counted, name, entries.get(name, Entry(kind="dir")), mtime)
    write(tarball.end(offset))


def build_context(spec: ImageSpec, dockerfile: str, runtime_packages: List[str],
                  out: Optional[IO[bytes]] = None) -> BuildContext:
    """Stream the tar.gz into `out` (a binary file), or only hash it when `out` is None (`plan`).

    Only hashing, a digest computed before for the same names, file sizes and modification times
    (and the same bytes made here) is read back from FLOWIMG_HOME/cache/contexts."""
    collected = collect(spec, dockerfile, runtime_packages)
    cached = _digest_cache(collected.entries) if out is None else None
    found = read_cached(cached) if cached else None
    digest = found.decode() if found else None
    if digest is None:
        sink = _HashingWriter(out)
        gz = tarball.GzipStream(sink.write, tarball.CONTEXT_OS)
        write_tar(collected.entries, gz.write)
        gz.close()
        digest = "sha256:" + sink.sha.hexdigest()
        if cached:
            write_cached(cached, digest.encode())
    return BuildContext(digest=digest, names=tuple(sorted(collected.entries)),
                        excluded=tuple(collected.excluded), patterns=tuple(collected.patterns))


def _digest_cache(entries: Dict[str, Entry]) -> Optional[str]:
    """The cache file for these entries, keyed by what each is (files by size, mtime and inode)."""
    key = sha256(str(FIXED_MTIME).encode())
    try:
        for name, entry in sorted(entries.items()):
            key.update(f"\0{name}\0{entry.kind}\0{entry.target}\0{entry.executable}\0".encode())
            if entry.kind == "file":
                st = os.stat(entry.path)
                key.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}".encode())
            elif entry.kind == "blob":
                key.update(sha256(entry.data).digest())
    except OSError:
        return None  # write_tar reports the file that vanished
    return cache_path("contexts", key.hexdigest())
