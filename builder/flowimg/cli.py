"""The `flowimg` command: parses, calls the Python API, prints. Errors are one line and exit 1."""
from __future__ import annotations

import json
import sys
import traceback
from typing import List, Optional

import typer

from .errors import FlowimgError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Package flows into Docker images and store them as scripts.")
flows_app = typer.Typer(no_args_is_help=True, help="Registered flows.")
project_app = typer.Typer(no_args_is_help=True, help="Projects that group registered flows.")
app.add_typer(flows_app, name="flows")
app.add_typer(project_app, name="project")

_state = {"debug": False}


def _err(message: str) -> None:
    typer.echo(message, err=True)


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    _state["debug"] = debug


PathOpt = typer.Option([], "--path", "-p", help="A flow file, a folder of them, or a glob. Repeatable.")
NameOpt = typer.Option([], "--name", "-n", help="Only these flows. Repeatable.")


def _collect(paths: List[str], modules: List[str], names: List[str]):
    from .collect import collect

    if not paths and not modules:
        raise FlowimgError("say where the flows are: -p FILE|DIR|GLOB or -m MODULE")
    found, errors = collect(paths, modules, names)
    if errors:
        source, message = next(iter(errors.items()))
        raise FlowimgError(message)
    return found


@app.command()
def build(path: List[str] = PathOpt, name: List[str] = NameOpt,
          push: bool = typer.Option(True, "--push/--no-push", help="Push to registry_url after building."),
          tag: Optional[str] = typer.Option(None, "--tag", help="Image tag (default: the storage's, else latest)."),
          registry_username: Optional[str] = typer.Option(None, "--registry-username", help="Log in as this user."),
          password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the registry password from stdin."),
          ) -> None:
    """Render, build, health-check and push the images of the flows' Docker storage; prints each image."""
    from .building import build_storages, storages_of

    found = _collect(path, [], name)
    storages = storages_of(found, tag)
    if not storages:
        raise FlowimgError("none of these flows has storage to build; set flow.storage = Docker(...)")
    if registry_username or password_stdin:
        _login(storages, registry_username, password_stdin)
    for image in build_storages(storages, push=push, log=_err):
        typer.echo(image)


def _login(storages, username: Optional[str], password_stdin: bool) -> None:
    from .image.engine import Engine

    if not (username and password_stdin):
        raise FlowimgError("an explicit login needs both --registry-username USER and --password-stdin")
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise FlowimgError("--password-stdin read an empty password; pipe it in: echo $PW | flowimg build ...")
    registries = {s.run_image().split("/")[0] for s in storages if s.run_image() and "/" in s.run_image()}
    for registry in sorted(registries):
        Engine.shared().login(registry, username, password)


@app.command()
def plan(path: List[str] = PathOpt, name: List[str] = NameOpt,
         tag: Optional[str] = typer.Option(None, "--tag", help="Image tag to plan for.")) -> None:
    """Print the Dockerfile, the build context's files and the image, without building."""
    from .building import storages_of

    found = _collect(path, [], name)
    planned = [p for p in (s.plan() for s in storages_of(found, tag)) if p]
    if not planned:
        raise FlowimgError("none of these flows has Docker storage to plan; set flow.storage = Docker(...)")
    for item in planned:
        typer.echo(f"# image: {item['image']}")
        typer.echo(f"# context: {item['context_digest']}")
        typer.echo(item["dockerfile"])
        typer.echo("# context files:")
        for entry in item["context"]:
            typer.echo(f"  {entry}")


@app.command()
def inspect(image: str = typer.Argument(..., help="Image reference, e.g. localhost:5000/example:latest")) -> None:
    """Print the flowimg manifest of an image, read from its label (no container is run)."""
    from .image.engine import Engine
    from .manifest import MANIFEST_LABEL, loads

    labels = Engine.shared().labels(image)
    if MANIFEST_LABEL not in labels:
        raise FlowimgError(f"image {image} has no flowimg manifest label; was it built by flowimg build?")
    typer.echo(json.dumps(loads(labels[MANIFEST_LABEL], image), indent=2, sort_keys=True))


def main() -> None:
    try:
        app(standalone_mode=False)
    except FlowimgError as exc:
        if _state["debug"]:
            traceback.print_exc()
        _err(f"Error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        _err("Interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors and the unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        if _state["debug"]:
            traceback.print_exc()
        _err(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        sys.exit(1)
