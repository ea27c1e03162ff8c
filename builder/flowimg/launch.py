"""The `flowimg` executable.

Importing typer takes longer than a whole warm registry rebuild, so a plain `build` or `plan` command line,
the edit-and-build loop, is parsed here and runs its command without typer. Anything else, and any token
this parser is unsure of (help, an unknown option, `--`, a value that looks like an option), goes to the
typer CLI, so help and usage errors stay typer's. A test holds the table below equal to the typer commands.
"""
from __future__ import annotations

import os
import sys

from .errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

MANY, ONE = "many", "one"  # a repeatable option's values, or the last value given
# command -> option spelling -> (parameter, MANY | ONE | the flag's value)
LEAN: Dict[str, Dict[str, Tuple[str, Any]]] = {
    "build": {"--path": ("path", MANY), "-p": ("path", MANY), "--name": ("name", MANY), "-n": ("name", MANY),
              "--push": ("push", True), "--no-push": ("push", False), "--tag": ("tag", ONE),
              "--registry-username": ("registry_username", ONE), "--password-stdin": ("password_stdin", True),
              "--builder": ("builder", ONE), "--platform": ("platform", ONE), "--load": ("load", True),
              "--output": ("output", ONE)},
    "plan": {"--path": ("path", MANY), "-p": ("path", MANY), "--name": ("name", MANY), "-n": ("name", MANY),
             "--tag": ("tag", ONE), "--builder": ("builder", ONE), "--platform": ("platform", ONE)},
}


def lean_command(argv: List[str]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(command, its keyword arguments) when every token is understood here, else None."""
    if not argv or argv[0] not in LEAN:
        return None
    options = LEAN[argv[0]]
    kwargs: Dict[str, Any] = {param: [] for param, kind in options.values() if kind == MANY}
    rest = argv[1:]
    while rest:
        token = rest.pop(0)
        spelling, has_value, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if spelling not in options:
            return None
        param, kind = options[spelling]
        if kind in (MANY, ONE):
            if not has_value:
                if not rest or rest[0].startswith("-"):
                    return None
                value = rest.pop(0)
            if kind == MANY:
                kwargs[param].append(value)
            else:
                kwargs[param] = value
        elif has_value:
            return None
        else:
            kwargs[param] = kind
    return argv[0], kwargs


def guarded(call: Callable[[], Any], debug: Callable[[], bool]) -> None:
    """flowimg's errors are one `Error:` line and exit 1; usage errors stay typer's (usage line, exit 2)."""
    from .build_commands import warn

    try:
        call()
    except FlowimgError as exc:
        if debug():
            _traceback()
        warn(f"Error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        warn("Interrupted")
        sys.exit(130)
    except BrokenPipeError as exc:
        if not _stdout_gone():
            _unexpected(exc, debug)
        sys.exit(141)  # the reader left (`flowimg plan | head`): stop quietly, as a pipe's writer does
    except Exception as exc:  # the unexpected
        _unexpected(exc, debug)


def _unexpected(exc: Exception, debug: Callable[[], bool]) -> None:
    from .build_commands import warn

    if debug():
        _traceback()
    warn(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
    sys.exit(1)


def _stdout_gone() -> bool:
    """True when standard output is a pipe whose reader has left; it then points at /dev/null, so that
    the interpreter's last flush at exit does not fail again."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        if not any(event & select.POLLERR for _, event in poller.poll(0)):
            return False
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        return True
    except (AttributeError, OSError, ValueError):  # no real file behind stdout
        return False


def _print(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _traceback() -> None:
    import traceback

    traceback.print_exc()


def main() -> None:
    try:
        lean = lean_command(sys.argv[1:])
        if lean is not None:
            from .image import head_start, prestart

            # While the flows load, the registry is asked and a build's health check interpreter imports.
            command, kwargs = lean
            key = prestart.command_key(sys.argv[1:], os.getcwd())
            if command == "build":
                prestart.start(key)
            head_start.start(key, sessions=command == "build")
            try:
                from . import build_commands

                return guarded(lambda: getattr(build_commands, command)(**kwargs), lambda: False)
            finally:
                prestart.discard()
                head_start.discard()
        from . import help_pages

        if help_pages.is_request(sys.argv[1:]):
            page = help_pages.cached(sys.argv[1:], sys.argv[0])
            if page is not None:
                return guarded(lambda: _print(page), lambda: False)
            from . import cli

            return guarded(lambda: help_pages.print_and_keep(sys.argv[1:], sys.argv[0], cli.app),
                           lambda: bool(cli._state["debug"]))
        from . import cli

        guarded(cli.app, lambda: bool(cli._state["debug"]))
    finally:
        # The interpreter's last full collection at exit would walk every object the imports made (about
        # 15 ms on a warm build); frozen, it skips them. Nothing is left to collect that matters by now.
        import gc

        gc.freeze()
