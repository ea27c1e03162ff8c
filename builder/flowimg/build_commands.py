"""The bodies of `build` and `plan`, free of typer: the lean launcher runs them straight from the command
line, and the typer commands of the same names call them."""
from __future__ import annotations

import sys

from .errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional


def say(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def collect_flows(paths: List[str], modules: List[str], names: List[str]) -> Any:
    from .collect import collect

    if not paths and not modules:
        raise FlowimgError("say where the flows are: -p FILE|DIR|GLOB or -m MODULE")
    found, errors = collect(paths, modules, names)
    if errors:
        raise FlowimgError(next(iter(errors.values())))
    return found


def build(path: List[str], name: List[str], push: bool = True, tag: Optional[str] = None,
          registry_username: Optional[str] = None, password_stdin: bool = False, builder: Optional[str] = None,
          platform: Optional[str] = None, load: bool = False, output: Optional[str] = None) -> None:
    """Render, build, health-check and push the images of the flows' Docker storage; prints each image."""
    from .building import build_options, build_storages, set_build_options, storages_of

    found = collect_flows(path, [], name)
    storages = storages_of(found, tag)
    if not storages:
        raise FlowimgError("none of these flows has storage to build; set flow.storage = Docker(...)")
    credentials = login(registry_username, password_stdin) if registry_username or password_stdin else None
    set_build_options(storages, build_options(builder, platform, load, output, credentials))
    for image in build_storages(storages, push=push, log=warn):
        say(image)


def login(username: Optional[str], password_stdin: bool) -> Any:
    """The credentials, kept in this process only: nothing is written to the Docker config."""
    from .image.registry_client import Credentials

    if not (username and password_stdin):
        raise FlowimgError("an explicit login needs both --registry-username USER and --password-stdin")
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise FlowimgError("--password-stdin read an empty password; pipe it in: echo $PW | flowimg build ...")
    return Credentials(username, password)


def plan(path: List[str], name: List[str], tag: Optional[str] = None, builder: Optional[str] = None,
         platform: Optional[str] = None) -> None:
    """Print the builder and why, the Dockerfile, the build context's files, and the layers, without building."""
    from .building import build_options, set_build_options, storages_of

    found = collect_flows(path, [], name)
    storages = storages_of(found, tag)
    set_build_options(storages, build_options(builder, platform, False, None, None))
    planned = [p for p in (s.plan() for s in storages) if p]
    if not planned:
        raise FlowimgError("none of these flows has Docker storage to plan; set flow.storage = Docker(...)")
    for item in planned:
        say(f"# image: {item['image']}")
        say(f"# builder: {item['builder']} ({item['builder_reason']})")
        if item.get("engine_builder"):
            say(f"# engine builder: {item['engine_builder']}")
        for layer in item.get("layers", []):
            why = f"  ({layer['why']})" if layer.get("why") else ""
            say(f"# layer {layer['what']}: {layer['digest']} {layer['size']} bytes {layer['action']}{why}")
        if "digest" in item:
            say(f"# digest: {item['digest']}" + ("  (unchanged: already under the tag)" if item["unchanged"] else ""))
        say(f"# context: {item['context_digest']}")
        for flow_name, location in item.get("flows", {}).items():
            say(f"# flow {flow_name}: {location}")
        if item.get("note"):
            say(f"# note: {item['note']}")
        say(item["dockerfile"])
        say("# context files:")
        for entry in item["context"]:
            say(f"  {entry}")
        if item["ignore_patterns"]:
            say(f"# excluded {len(item['excluded'])} paths by: {' '.join(item['ignore_patterns'])}")
            for entry in item["excluded"]:
                say(f"  {entry}")
