"""Build (and push) the storages of collected flows; each storage object is built once."""
from __future__ import annotations

import os

from .collect import FoundFlow
from .errors import FlowimgError
from .storage.base import Storage
from .storage.docker import Docker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .log import Log
    from typing import Any, Dict, List, Optional


def storages_of(found: List[FoundFlow], tag: Optional[str] = None) -> List[Storage]:
    """Distinct storages in first-seen order, each holding its flows; flows with no storage are skipped."""
    storages: List[Storage] = []
    images: Dict[str, Storage] = {}
    for item in found:
        storage = item.flow.storage
        if storage is None:
            continue
        if tag is not None and hasattr(storage, "image_tag"):
            storage.image_tag = tag
        storage.add_flow(item.flow, item.script_path)
        if all(storage is not s for s in storages):
            storages.append(storage)
    for storage in storages:
        image = storage.run_image()
        if image is not None and images.setdefault(image, storage) is not storage:
            raise FlowimgError(
                f"two different storages build image {image}; share one storage object between the flows "
                "or give them different image_name"
            )
    return storages


def build_options(builder: Optional[str], platforms: Optional[str], load: bool, output: Optional[str],
                  credentials: Any) -> Any:
    """The command line's how-to-build choices; checked here so a typo fails before any work."""
    from .image.registry_builder import BuildOptions, check_builder, parse_platform

    names = tuple(p.strip() for p in (platforms or "").split(",") if p.strip())
    for name in names:
        parse_platform(name)
    return BuildOptions(builder=check_builder(builder) if builder else None, platforms=names, load=load,
                        output=os.path.abspath(output) if output else None, credentials=credentials)


def set_build_options(storages: List[Storage], options: Any) -> None:
    for storage in storages:
        if hasattr(storage, "build_options"):
            storage.build_options = options


def build_storages(storages: List[Storage], push: bool, log: Log) -> List[str]:
    """Build each storage; returns the images made."""
    built: List[str] = []
    for storage in storages:
        storage.build(push=push, log=log)
        image = storage.built_image()
        if image:
            built.append(image)
    return built


def split_reference(reference: str) -> tuple:
    """'host:5000/team/name:tag' -> ('host:5000', 'team/name', 'tag'); the tag defaults to latest."""
    from .image.reference import parse_reference

    found = parse_reference(reference)
    if found.digest:
        raise FlowimgError(f"run-image {reference}: name the image to make with a tag, not a digest")
    return found.registry, found.path, found.tag or "latest"


def run_image_storage(storages: List[Storage], reference: str, base_image: Optional[str],
                      wheelhouse: Optional[str], extra: List[str]) -> Docker:
    """An image holding no flow: the runtime plus what these storages need to fetch their scripts,
    for `flowimg run --image`, so new code runs with no rebuild."""
    from .image.spec import check_repository, check_tag

    if not reference.strip():
        raise FlowimgError("run-image needs the image to make, e.g. flowimg run-image localhost:5000/flow-runner:1")
    registry, name, tag = split_reference(reference)
    check_repository(f"{registry}/{name}" if registry else name)
    check_tag(tag)
    requirements = sorted({r for s in storages for r in s.image_requirements()} | set(extra))
    return Docker(registry_url=registry, image_name=name, image_tag=tag, base_image=base_image,
                  python_dependencies=requirements, wheelhouse=wheelhouse)
