"""`flowimg ... --help` answered without importing typer, once typer has printed that page.

Importing typer is most of a help request's time. A help page depends only on the command line, the
program name, the terminal width, the installed CLI code and typer (and click) themselves, so the page
typer printed is kept in the cache under all of those, whole, and a later identical request prints it
as it is. Any change to one of them (an edit, an upgrade, a wider terminal) is a new page from typer.
"""
from __future__ import annotations

import json
import os
import sys
import zlib

from .home import cache_path, read_cached, write_cached

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Optional

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def is_request(argv: List[str]) -> bool:
    """`[COMMAND [SUBCOMMAND]] --help`: the pages that need nothing but the CLI's own definitions."""
    return 1 <= len(argv) <= 3 and argv[-1] == "--help" and all(
        word and not word.startswith("-") and word.replace("-", "").isalnum() for word in argv[:-1])


def _columns() -> int:
    """The width click formats for, as shutil.get_terminal_size() finds it, without importing shutil."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            stream = sys.__stdout__
            columns = os.get_terminal_size(stream.fileno()).columns if stream is not None else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def _sources() -> List[List[object]]:
    """Every module of flowimg (help texts come from several) and the typer and click installations."""
    found: List[List[object]] = []

    def walk(folder: str) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    walk(entry.path)
                elif entry.name.endswith(".py"):
                    st = entry.stat()
                    found.append([entry.path, st.st_size, st.st_mtime_ns])

    walk(_PACKAGE)
    for name in ("typer", "click"):
        for folder in sys.path:
            init = os.path.join(folder or ".", name, "__init__.py")
            if os.path.isfile(init):
                st = os.stat(init)
                found.append([init, st.st_size, st.st_mtime_ns])
                break
    return found


def _key(argv: List[str], prog: str) -> str:
    settings = {name: value for name, value in os.environ.items()
                if name.lstrip("_").startswith(("TYPER", "CLICK")) or name in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    return json.dumps([argv, prog, _columns(), settings, _sources()], sort_keys=True)


def _path(key: str) -> str:
    return cache_path("help", "%08x.txt" % zlib.crc32(key.encode()))


def cached(argv: List[str], prog: str) -> Optional[str]:
    """The page typer printed for exactly this request, or None; the file holds its key on the first line."""
    key = _key(argv, prog)
    found = read_cached(_path(key))
    if found is None:
        return None
    kept, _, page = found.decode("utf-8").partition("\n")
    return page if kept == key else None


def print_and_keep(argv: List[str], prog: str, run: Callable[[], None]) -> None:
    """Run typer with its output caught, print it, and keep it when typer printed a page and exited 0."""
    import io

    real, caught = sys.stdout, io.StringIO()
    code: object = 0
    sys.stdout = caught
    try:
        run()
    except SystemExit as exc:
        code = exc.code
        raise
    finally:
        sys.stdout = real
        page = caught.getvalue()
        if code in (0, None) and page:
            key = _key(argv, prog)
            write_cached(_path(key), (key + "\n" + page).encode("utf-8"))
        real.write(page)
        real.flush()
