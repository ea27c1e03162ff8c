"""BuildKit builds through the docker CLI, so pip's cache survives a dependency change in a cache mount.

docker-py speaks only the legacy builder's API; BuildKit needs the CLI's session, so the CLI runs as a
subprocess against the engine docker-py uses. Found once per process: a CLI older than 23 builds with
BuildKit itself under DOCKER_BUILDKIT=1, a newer one only through its buildx plugin.
`FLOWIMG_BUILDKIT=0` forces the legacy builder, `=1` requires BuildKit.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from dataclasses import dataclass

from ..errors import FlowimgError
from ..log import Log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Deque, Dict, IO, List, Mapping, Optional, Tuple

SETTING = "FLOWIMG_BUILDKIT"
DEBIAN_CLI = "/usr/bin/docker"
MIN_VERSION = (18, 9)  # the first engine and CLI with BuildKit
BUILDX_ONLY_CLIENT = 23  # from this client on, `docker build` with BuildKit needs the buildx plugin
PROBE_TIMEOUT = 20
TAIL_LINES = 8
_OFF, _ON = ("0", "false", "no", "off", "legacy"), ("1", "true", "yes", "on", "buildkit")
_VERTEX = re.compile(r"#(\d+) (.*)")
_TIMED = re.compile(r"\d+\.\d+ (.*)")
_FAILED = re.compile(r"(?:error|ERROR): (?:failed to solve: )?(?:rpc error: code = \w+ desc = )?(.*)")
_found: Dict[str, Tuple[Optional[str], str]] = {}


@dataclass(frozen=True)
class DockerBuilder:
    """The CLI that builds with BuildKit, or None for docker-py's legacy builder; and why."""

    cli: Optional[str]
    reason: str


def _flag(name: str) -> Any:
    return lambda value: [name] if value else []


def _pairs(name: str, joiner: str = "=") -> Any:
    return lambda value: [arg for k, v in sorted(dict(value).items()) for arg in (name, f"{k}{joiner}{v}")]


def _each(name: str) -> Any:
    return lambda value: [arg for v in ([value] if isinstance(value, str) else value) for arg in (name, str(v))]


# docker-py build keyword -> the CLI flags saying the same; anything else keeps the legacy builder.
CLI_FLAGS = {
    "nocache": _flag("--no-cache"), "pull": _flag("--pull"), "buildargs": _pairs("--build-arg"),
    "labels": _pairs("--label"), "extra_hosts": _pairs("--add-host", ":"), "cache_from": _each("--cache-from"),
    "target": _each("--target"), "platform": _each("--platform"), "shmsize": _each("--shm-size"),
    "rm": lambda value: [], "forcerm": lambda value: [],  # BuildKit leaves no intermediate containers
}


def cli_environment() -> Dict[str, str]:
    """The engine docker-py talks to, whatever context the CLI would pick by itself."""
    from .engine import _engine_address

    env = {k: v for k, v in os.environ.items() if k != "DOCKER_CONTEXT"}
    env.update(DOCKER_HOST=_engine_address(), DOCKER_BUILDKIT="1")
    return env


def _version(text: str) -> Tuple[int, int]:
    found = re.search(r"(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def _run(command: List[str], env: Mapping[str, str]) -> Optional[str]:
    try:
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _client_refusal(cli: str, env: Mapping[str, str]) -> Optional[str]:
    """Why this CLI cannot build with BuildKit, or None when it can."""
    client = _run([cli, "--version"], env)
    if client is None:
        return f"{cli} does not run"
    version = _version(client)
    if version < MIN_VERSION:
        return f"{cli} {version[0]}.{version[1]} predates BuildKit"
    if version[0] >= BUILDX_ONLY_CLIENT and _run([cli, "buildx", "version"], env) is None:
        return f"{cli} {version[0]}.x has no buildx"
    return None


def _detect(env: Mapping[str, str]) -> Tuple[Optional[str], str]:
    candidates = [c for c in dict.fromkeys([shutil.which("docker", path=env.get("PATH")), DEBIAN_CLI]) if c]
    refusals = []
    for cli in candidates:
        if not os.access(cli, os.X_OK):
            continue
        refusal = _client_refusal(cli, env)
        if refusal is None:
            server = _run([cli, "version", "--format", "{{.Server.Version}} {{.Server.Os}}"], env)
            if server is None:
                return None, f"{cli} gets no answer from the engine at {env['DOCKER_HOST']}"
            if _version(server) < MIN_VERSION or not server.endswith("linux"):
                return None, f"the engine ({server}) has no BuildKit"
            return cli, f"BuildKit through {cli}"
        refusals.append(refusal)
    return None, "no docker CLI builds with BuildKit (" + ("; ".join(refusals) or "none found") + ")"


def docker_builder(build_kwargs: Mapping[str, Any], explicit_login: bool = False) -> DockerBuilder:
    """BuildKit when the setting allows it, every build_kwargs has a CLI flag, and a CLI can."""
    setting = os.environ.get(SETTING, "auto").strip().lower()
    if setting not in _OFF + _ON + ("auto", ""):
        raise FlowimgError(f"{SETTING}={os.environ[SETTING]!r} is not a choice; set it to 0 (legacy builder), "
                           "1 (BuildKit) or auto")
    if setting in _OFF:
        return DockerBuilder(None, f"legacy builder ({SETTING}={os.environ[SETTING]})")
    blocker = next((f"build_kwargs {k!r} has no docker CLI flag" for k in sorted(build_kwargs) if k not in CLI_FLAGS),
                   "the explicit registry login stays inside docker-py" if explicit_login else None)
    env = cli_environment()
    if blocker is None:
        if env["DOCKER_HOST"] not in _found:
            _found[env["DOCKER_HOST"]] = _detect(env)
        cli, reason = _found[env["DOCKER_HOST"]]
        if cli is not None:
            return DockerBuilder(cli, reason)
        blocker = reason
    if setting in _ON:
        raise FlowimgError(f"{SETTING}={os.environ[SETTING]} but {blocker}; install a docker CLI with BuildKit "
                           f"(Debian's docker.io, or buildx) or set {SETTING}=0")
    return DockerBuilder(None, f"legacy builder: {blocker}")


def cli_flags(build_kwargs: Mapping[str, Any]) -> List[str]:
    return [arg for key, value in sorted(build_kwargs.items()) for arg in CLI_FLAGS[key](value)]


class _Progress:
    """Reads `--progress plain`: the steps, each step's last output lines, and which step failed."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.steps: Dict[str, str] = {}
        self.tails: Dict[str, Deque[str]] = {}
        self.failed: Optional[str] = None
        self.error = ""
        self.last = ""  # the CLI's own last words, when it fails before BuildKit reports anything

    def feed(self, line: str) -> None:
        line = line.rstrip()
        found = _VERTEX.fullmatch(line)
        if found is None:
            failed = _FAILED.fullmatch(line)
            if failed is not None:
                self.error = failed.group(1).strip()
            if line.strip() and not line.startswith(("------", " > ")):
                self.last = line.strip()[:200]
                self._show(line)
            return
        vertex, text = found.groups()
        if text.startswith("sha256:"):
            return
        timed = _TIMED.fullmatch(text)
        if vertex not in self.steps:
            self.steps[vertex] = text
            self.tails[vertex] = deque(maxlen=TAIL_LINES)
            self.log(line)  # a step's instruction, whole: the mounts come before what it runs
            return
        if timed is not None and timed.group(1).strip() and self.failed is None:
            self.tails[vertex].append(timed.group(1).strip()[:200])
        elif text.startswith("ERROR: "):
            self.failed = self.failed or vertex
            self.error = self.error or text[len("ERROR: "):]
        self._show(line)

    def _show(self, line: str) -> None:
        self.log(line if len(line) <= 160 else line[:157].rstrip() + "...")

    def failure(self) -> str:
        step = self.steps.get(self.failed or "", "")
        lines = " | ".join(self.tails.get(self.failed or "", ()))
        return (f"image build failed at {step or 'the build'}: {self.error or self.last or 'the docker CLI failed'}"
                + (f" (last output: {lines})" if lines else ""))


def build(cli: str, context: IO[bytes], tag: str, log: Log, network_mode: str,
          build_kwargs: Mapping[str, Any]) -> str:
    """`docker build -` with the gzipped context on stdin; the image id comes from --iidfile."""
    with tempfile.TemporaryDirectory(prefix="flowimg-buildkit-") as folder:
        iidfile = os.path.join(folder, "iid")
        command = [cli, "build", "--progress", "plain", "--network", network_mode, "--iidfile", iidfile,
                   "--tag", tag, *cli_flags(build_kwargs), "-"]
        progress = _Progress(log)
        try:
            proc = subprocess.Popen(command, stdin=context, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    env=cli_environment(), text=True, encoding="utf-8", errors="replace")
        except OSError as exc:
            raise FlowimgError(f"cannot start {cli} ({exc.strerror}); set {SETTING}=0 for the legacy builder") from None
        finished = False
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                progress.feed(line)
            finished = True
        finally:
            if not finished:  # interrupted: the CLI must not go on building
                proc.kill()
            proc.wait()
        if proc.returncode != 0:
            raise FlowimgError(progress.failure())
        with open(iidfile, encoding="utf-8") as fh:
            return fh.read().strip()
