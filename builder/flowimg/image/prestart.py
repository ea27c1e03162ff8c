"""The health check's interpreter, started as soon as `flowimg build` starts.

A check here (image/healthcheck.py) spends most of its time starting Python and importing flowimg, not
loading the flows. The same build command is run again and again after task edits, so the settings of its
last check here (interpreter, the image's packages, env and WORKDIR) are remembered per command line, and
the next run of that command line starts that interpreter at once: it imports while this process loads
the flow script and assembles the image, then waits for the folder the code layer is unpacked in. When
the check comes, a matching interpreter only loads the flows. Anything that differs (interpreter, packages,
env, WORKDIR, or a name in WORKDIR that would shadow a module it already imported) ends it unused and the
check starts afresh, so the outcome is always that of a fresh check.
"""
from __future__ import annotations

import json
import os

from ..home import cache_path, keep_json, read_cached

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, IO, Optional, Sequence, Tuple
    import subprocess

# The end of every check script: os._exit once the output is flushed, as a check only loaded flows and tearing
# its modules down took longer than the check.
RUN_CHECK = ("code = main(['--check'])\n"
             "sys.stdout.flush(), sys.stderr.flush()\n"
             "os._exit(code or 0)\n")
# Imports what a flow script built with Docker storage imports and says which top-level modules it holds. Then
# "go" brings the folder the code layer is unpacked in: the check runs there as image/healthcheck.py's _BOOT
# runs it, with the WORKDIR first on sys.path and the manifest it names.
_BOOT = ("import json, os, sys\n"
         "sys.path[:] = sys.argv[1:] + [p for p in sys.path if p]\n"
         "del sys.argv[1:]\n"
         "import importlib.util\n"
         "import flowimg.core.flow, flowimg.core.task, flowimg.loading, flowimg.storage.docker\n"
         "import flowimg.engine.state, flowimg.tasks.core.function, flowimg.triggers, flowimg.utilities.tasks\n"
         "from flowimg.runtime import main\n"
         "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), flush=True)\n"
         "go = sys.stdin.readline()\n"
         "if not go.startswith('go '):\n"
         "    os._exit(0)\n"
         "cwd, os.environ['FLOWIMG_MANIFEST'] = json.loads(go[3:])\n"
         "os.chdir(cwd)\n"
         "sys.path.insert(0, cwd)\n"
         "importlib.invalidate_caches()\n" + RUN_CHECK)

MODE_ENV = "FLOWIMG_HEALTHCHECK"  # where checks run: auto (here when only the code changed) or engine
_key: Optional[str] = None
_started: Optional["Started"] = None


def command_key(argv: Sequence[str], cwd: str) -> str:
    """64 bits of the command line and its folder (zlib: hashlib loads OpenSSL, which would delay the start)."""
    import zlib

    text = json.dumps([cwd, *argv]).encode()
    return "%08x%08x" % (zlib.crc32(text), zlib.adler32(text))


def _record_path(key: str) -> str:
    return cache_path("healthchecks", "prestart", key + ".json")


class Started:
    """A check interpreter importing, then waiting for "go" and the folder of the code it checks."""

    def __init__(self, settings: Dict[str, Any], process: "subprocess.Popen[str]") -> None:
        self.settings, self.process = settings, process

    def run(self, cwd: str, manifest: str, timeout: float) -> Optional[Tuple[int, str, str]]:
        """(exit code, stdout, stderr) of the check in `cwd`, or None when this interpreter cannot give a fresh
        check's answer: it failed to start, or `cwd` holds a name that would shadow a module it imported."""
        assert self.process.stdout is not None and self.process.stdin is not None
        loaded = set(self.process.stdout.readline().split())
        if not loaded or loaded & _top_level_names(cwd):
            return None
        self.process.stdin.write("go " + json.dumps([cwd, manifest]) + "\n")
        self.process.stdin.flush()
        stdout, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stdout, stderr

    def close(self) -> None:
        if self.process.poll() is None:
            _quietly(self.process.stdin)
            try:
                self.process.wait(timeout=5)
            except Exception:  # noqa: BLE001 - an interpreter that ignores end of input is killed
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr, self.process.stdin):
            _quietly(stream)


def _quietly(stream: Optional[IO[str]]) -> None:
    try:
        if stream is not None:
            stream.close()
    except OSError:
        pass


def _top_level_names(folder: str) -> set:
    """Module names a folder first on sys.path provides: modules, packages, and namespace folders."""
    try:
        names = os.listdir(folder)
    except OSError:
        return set()
    return {name.split(".", 1)[0] for name in names if "." not in name or name.endswith((".py", ".pyc", ".so"))}


def start(key: str) -> None:
    """Start the interpreter the last run of this command line (`command_key`) checked with, if it checked here."""
    global _key, _started
    _key = key
    found = read_cached(_record_path(key))
    if found is not None and _checks_here():
        try:
            _started = _spawn(json.loads(found))
        except (ValueError, KeyError, TypeError, OSError):
            _started = None  # a damaged record or a missing interpreter: the check starts afresh


def _checks_here() -> bool:
    """Only `auto` checks here; `engine` never does, and a wrong value fails the build (image/healthcheck.py)."""
    return (os.environ.get(MODE_ENV) or "auto") == "auto"


def _spawn(settings: Dict[str, Any]) -> Started:
    import subprocess

    process = subprocess.Popen([settings["interpreter"], "-I", "-S", "-c", _BOOT, *settings["python_path"]],
                               cwd="/", env=dict(settings["env"]), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return Started(settings, process)


def settings_for(interpreter: str, python_path: Sequence[str], env: Dict[str, str], workdir: str) -> Dict[str, Any]:
    return {"interpreter": interpreter, "python_path": list(python_path), "env": env, "workdir": workdir}


def take(settings: Dict[str, Any]) -> Optional[Started]:
    """The started interpreter if it was started with exactly these settings; else it is ended unused."""
    global _started
    started, _started = _started, None
    if started is not None and started.settings != settings:
        started.close()
        return None
    return started


def remember(settings: Dict[str, Any]) -> None:
    """Settings for the next run of this command line (only a command line `start` saw is remembered)."""
    if _key is not None:
        keep_json(_record_path(_key), settings)


def discard() -> None:
    """End an interpreter no check took (an unchanged image, a failed build)."""
    global _started
    started, _started = _started, None
    if started is not None:
        started.close()
