"""The registry builder: assemble a flow image in the registry, with no daemon and no container.

The base image is resolved in its registry (tag -> index -> the platform's manifest -> config) and its
layers are reused by digest; flowimg writes only its own deterministic layers, a config and a manifest
(an index for several platforms). The digest is known before anything is uploaded, so an image that is
already under its tag uploads nothing, and the tag is written last: a push that dies half-way never
leaves a tag pointing at a missing blob.
"""
from __future__ import annotations

import functools
import io
import json
import os
import re
import sys
import time

from ..errors import FlowimgError
from ..record import Record
from . import head_start
from .layers import OCI_CONFIG, OCI_LAYER, Layer, code_layer, dependency_layer, image_config, runtime_layer
from .registry_client import INDEX_TYPES, OCI_INDEX, OCI_MANIFEST, Credentials, Registry, sha256_digest
from .spec import ImageSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

    from ..log import Log

BUILDERS = ("auto", "docker", "registry")
_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class BuildOptions(Record):
    """How to build, as opposed to what (the storage's settings): chosen per command, never registered."""

    __slots__ = ("builder", "platforms", "load", "output", "credentials")
    _not_shown = ("credentials",)
    builder: Optional[str]  # None: the storage's, else docker
    platforms: Tuple[str, ...]
    load: bool
    output: Optional[str]
    credentials: Optional[Credentials]

    def __init__(self, builder: Optional[str] = None, platforms: Tuple[str, ...] = (), load: bool = False,
                 output: Optional[str] = None, credentials: Optional[Credentials] = None) -> None:
        self.builder, self.platforms, self.load, self.output, self.credentials = (
            builder, platforms, load, output, credentials)


class Choice(Record):
    __slots__ = ("builder", "reason")
    builder: str
    reason: str

    def __init__(self, builder: str, reason: str) -> None:
        self.builder, self.reason = builder, reason


def check_builder(name: str) -> str:
    if name not in BUILDERS:
        raise FlowimgError(f"unknown builder '{name}'; use one of {', '.join(BUILDERS)}")
    return name


def split_image(reference: str) -> Tuple[Optional[str], str, str]:
    """'host:5000/team/name:tag' or '...@sha256:...' -> (host or None, repository, tag or digest)."""
    from .reference import parse_reference

    found = parse_reference(reference)
    return found.registry, found.path, found.digest or found.tag or "latest"


def parse_platform(text: str) -> Dict[str, str]:
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise FlowimgError(f"platform '{text}' is not os/arch[/variant]; use e.g. linux/amd64,linux/arm64")
    found = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        found["variant"] = parts[2]
    return found


def platform_name(spec: Dict[str, Any]) -> str:
    return "/".join(p for p in (spec.get("os"), spec.get("architecture"), spec.get("variant")) if p)


def host_platform_name() -> str:
    machine = os.uname().machine.lower()
    return "linux/" + {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def choose(requested: str, spec: ImageSpec, registry_url: Optional[str], build_kwargs: Dict[str, Any],
           dockerfile: Optional[str], output: Optional[str] = None, insecure: Sequence[str] = ()) -> Choice:
    """`auto` picks the registry builder only when it can make the same image the docker builder would."""
    if requested == "docker":
        return Choice("docker", "asked for (--builder docker / builder='docker')")
    blockers = []
    if spec.extra_commands:
        blockers.append("extra_dockerfile_commands need RUN steps")
    if dockerfile:
        blockers.append(f"a user dockerfile ({os.path.basename(dockerfile)}) needs the engine")
    if build_kwargs:
        blockers.append("build_kwargs are docker build options")
    if spec.python_dependencies and not spec.wheelhouse:
        blockers.append("python_dependencies without a wheelhouse")
    base_host = split_image(spec.base_image)[0]
    if base_host is None:
        blockers.append(f"base image {spec.base_image} names no registry host")
    if not registry_url and not output:
        blockers.append("no registry_url to push to")
    if not blockers and requested == "auto":
        blockers += _registry_blockers(spec.base_image, registry_url, insecure)
    if requested == "registry":
        if blockers:
            raise FlowimgError(f"the registry builder cannot build {spec.image_ref}: {'; '.join(blockers)}; "
                               "fix that or use --builder docker")
        return Choice("registry", "asked for (--builder registry / builder='registry')")
    if blockers:
        return Choice("docker", "auto: " + "; ".join(blockers))
    return Choice("registry", f"auto: base {spec.base_image} is in a registry and no step needs RUN")


def _registry_blockers(base_image: str, registry_url: Optional[str], insecure: Sequence[str]) -> List[str]:
    """The base must be in its registry (not only in the local engine) and the target must answer."""
    host, repository, reference = split_image(base_image)
    if host is None:
        return [f"base image {base_image} names no registry (Docker Hub is not read by this builder)"]
    try:
        with registry_for(host, insecure).deadline(3.0) as base:
            if resolve(base, repository, reference) is None:
                return [f"base image {base_image} is not in its registry (only in the local engine?)"]
    except FlowimgError:
        return [f"registry {host} does not serve base image {base_image}"]
    target = registry_url.split("/")[0] if registry_url else None
    if target and target != host:
        with registry_for(target, insecure).deadline(3.0) as client:
            if not client.ping():
                return [f"registry {target} does not answer"]
    return []


_REGISTRIES: Dict[Tuple[str, Tuple[str, ...], Optional[Credentials]], Registry] = {}
_RESOLVED: Dict[Tuple[str, str, str], Tuple[float, Optional[str]]] = {}
_RESOLVING: Dict[Tuple[str, str, str], Callable[[], Optional[str]]] = {}
_RESOLVED_FOR = 5.0  # seconds: the builder's choice and the assembly share one HEAD; a watch loop asks again


def registry_for(host: str, insecure: Sequence[str] = (), credentials: Optional[Credentials] = None) -> Registry:
    """One client per registry host in this process: one keep-alive connection and one token serve the
    builder's choice, the base's resolution and the push."""
    key = (host, tuple(insecure), credentials)
    if key not in _REGISTRIES:
        _REGISTRIES[key] = Registry(host, credentials=credentials, insecure=insecure)
    return _REGISTRIES[key]


def resolve(base: Registry, repository: str, reference: str) -> Optional[str]:
    """The digest a base tag points at (one HEAD per process), or None when it is not there."""
    if reference.startswith("sha256:"):
        return reference
    key = (base.host, repository, reference)
    now = time.monotonic()
    if key not in _RESOLVED or now - _RESOLVED[key][0] > _RESOLVED_FOR:
        early = _RESOLVING.pop(key, None)
        _RESOLVED[key] = (now, early() if early is not None else base.manifest_digest(repository, reference))
    return _RESOLVED[key][1]


def resolve_early(base: Registry, repository: str, reference: str) -> None:
    """Start resolving a base tag now (image/head_start.py); the next `resolve` of it waits for this answer."""
    if not reference.startswith("sha256:"):
        client = base.fork()
        _RESOLVING[(base.host, repository, reference)] = in_background(
            lambda: client.manifest_digest(repository, reference))


def _by_digest(cache_dir: Optional[str], digest: str, fetch: Callable[[], bytes]) -> bytes:
    """Manifests and configs are content-addressed: once fetched, they are read from disk (and checked)."""
    from ..home import read_cached, write_cached

    path = os.path.join(cache_dir, digest.replace(":", "-")) if cache_dir else None
    data = read_cached(path) if path else None
    if data is not None and sha256_digest(data) == digest:
        return data
    data = fetch()
    if sha256_digest(data) != digest:
        raise FlowimgError(f"the registry sent {digest[:19]} with the wrong content; retry")
    if path:
        write_cached(path, data)
    return data


# -- assembling ------------------------------------------------------------------------------------
class PlatformImage(Record):
    __slots__ = ("platform", "base_layers", "layers", "config", "manifest")
    platform: str
    base_layers: List[Dict[str, Any]]
    layers: List[Layer]
    config: bytes
    manifest: bytes

    def __init__(self, platform: str, base_layers: List[Dict[str, Any]], layers: List[Layer], config: bytes,
                 manifest: bytes) -> None:
        self.platform, self.base_layers, self.layers, self.config, self.manifest = (
            platform, base_layers, layers, config, manifest)

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    def descriptor(self) -> Dict[str, Any]:
        return {"mediaType": OCI_MANIFEST, "digest": self.digest, "size": len(self.manifest),
                "platform": parse_platform(self.platform)}


class Assembly(Record):
    __slots__ = ("base_host", "base_repository", "images", "index")
    base_host: str
    base_repository: str
    images: List[PlatformImage]
    index: Optional[bytes]  # None for one platform: the manifest itself is tagged

    def __init__(self, base_host: str, base_repository: str, images: List[PlatformImage],
                 index: Optional[bytes]) -> None:
        self.base_host, self.base_repository, self.images, self.index = base_host, base_repository, images, index

    @property
    def top(self) -> Tuple[bytes, str]:
        if self.index is not None:
            return self.index, OCI_INDEX
        return self.images[0].manifest, OCI_MANIFEST

    @property
    def digest(self) -> str:
        return sha256_digest(self.top[0])


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _base_top(base: Registry, repository: str, reference: str, cache_dir: Optional[str]) -> Tuple[bytes, str]:
    """The base's manifest or index: the tag checked with one HEAD, the bytes from the cache by digest."""
    digest = resolve(base, repository, reference)
    if digest is None:  # not there, or a registry that sends no digest on HEAD: GET says which
        data, media_type, digest = base.get_manifest(repository, reference)
        return _by_digest(cache_dir, digest, lambda: data), media_type
    data = _by_digest(cache_dir, digest, lambda: base.get_manifest(repository, digest)[0])
    return data, json.loads(data).get("mediaType", "")


def _base_manifest(base: Registry, repository: str, reference: str, platform: str,
                   cache: Dict[str, Any], cache_dir: Optional[str] = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(manifest, config) of the base for one platform, through its index when it has one."""
    if "top" not in cache:
        cache["top"] = _base_top(base, repository, reference, cache_dir)
    data, media_type = cache["top"]
    manifest = json.loads(data)
    if media_type in INDEX_TYPES or manifest.get("manifests"):
        wanted = parse_platform(platform)
        offered = [m for m in manifest.get("manifests", []) if (m.get("platform") or {}).get("os") != "unknown"]
        match = next((m for m in offered if all((m.get("platform") or {}).get(k) == v for k, v in wanted.items())),
                     None)
        if match is None:
            have = ", ".join(platform_name(m.get("platform") or {}) for m in offered) or "none"
            raise FlowimgError(f"base image {base.host}/{repository}:{reference} has no {platform} image (it has "
                               f"{have}); pick another --platform or base image")
        manifest = json.loads(_by_digest(cache_dir, match["digest"],
                                         lambda: base.get_manifest(repository, match["digest"])[0]))
    config_digest = manifest["config"]["digest"]
    config = json.loads(_by_digest(cache_dir, config_digest, lambda: base.get_blob(repository, config_digest)))
    have = platform_name({k: config.get(k) for k in ("os", "architecture", "variant")})
    if have != platform and not (platform.count("/") == 1 and have.startswith(platform + "/")):
        raise FlowimgError(f"base image {base.host}/{repository}:{reference} is {have}, not {platform}; pick "
                           f"--platform {have} or a base image with an index for {platform}")
    return manifest, config


def target_python(config: Dict[str, Any]) -> str:
    """The base's Python (PYTHON_VERSION, as python images set it), else this interpreter's major.minor."""
    for entry in (config.get("config") or {}).get("Env") or []:
        name, _, value = entry.partition("=")
        if name == "PYTHON_VERSION" and value.count(".") >= 1:
            return ".".join(value.split(".")[:2])
    return "{}.{}".format(*sys.version_info[:2])


def assemble(spec: ImageSpec, platforms: Sequence[str], runtime_packages: Sequence[str], base: Registry,
             cache_dir: Optional[str]) -> Assembly:
    """Everything the push sends, computed before sending anything, so the digest is known up front."""
    _, repository, reference = split_image(spec.base_image)
    client = base.fork()
    resolved = in_background(lambda: resolve(client, repository, reference))  # the HEAD travels meanwhile
    layers_dir = os.path.join(cache_dir, "layers") if cache_dir else None
    runtime = runtime_layer(runtime_packages, layers_dir)
    code = code_layer(spec)
    resolved()
    cache: Dict[str, Any] = {}
    images = []
    for name in platforms:
        manifest, base_config = _base_manifest(base, repository, reference, name, cache,
                                               os.path.join(cache_dir, "manifests") if cache_dir else None)
        ours = [runtime, code]
        if spec.python_dependencies:
            ours.insert(0, dependency_layer(spec, name, target_python(base_config), layers_dir))
        config = _canonical(image_config(base_config, spec, ours))
        base_layers = [dict(layer, mediaType=OCI_LAYER) if layer.get("mediaType") == _DOCKER_LAYER else dict(layer)
                       for layer in manifest.get("layers", [])]
        image_manifest = _canonical({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
            "layers": base_layers + [layer.descriptor() for layer in ours],
        })
        images.append(PlatformImage(name, base_layers, ours, config, image_manifest))
    index = None
    if len(images) > 1:
        index = _canonical({"schemaVersion": 2, "mediaType": OCI_INDEX,
                            "manifests": [image.descriptor() for image in images]})
    return Assembly(base.host, repository, images, index)


# -- pushing -----------------------------------------------------------------------------------------
class BlobStep(Record):
    __slots__ = ("digest", "size", "what", "action")
    digest: str
    size: int
    what: str     # base layer, dependencies, runtime, code, config
    action: str   # present | mount | copy | upload

    def __init__(self, digest: str, size: int, what: str, action: str) -> None:
        self.digest, self.size, self.what, self.action = digest, size, what, action


SMALL_BLOB = 1024 * 1024  # our own blobs up to this size are sent rather than asked about first


def blob_steps(assembly: Assembly, target: Registry, repository: str, known: Sequence[str] = (),
               ask_small: bool = True) -> List[BlobStep]:
    """What a push would do for each distinct blob; asks the registry with HEAD only, and not even that
    for `known` blobs (those the repository's current manifest references, so the registry holds).
    Without `ask_small`, our own small blobs (code, config) are uploaded unasked: a task edit makes
    them new, and a repeated upload of a few KB costs less than the question."""
    wanted: Dict[str, Tuple[int, str]] = {}
    for image in assembly.images:
        for layer in image.base_layers:
            wanted.setdefault(layer["digest"], (layer.get("size", 0), "base layer"))
        for own in image.layers:
            wanted.setdefault(own.digest, (own.size, own.role))
        wanted.setdefault(sha256_digest(image.config), (len(image.config), f"config {image.platform}"))
    unasked = {d for d, (size, what) in wanted.items()
               if d in known or (not ask_small and what != "base layer" and size <= SMALL_BLOB)}
    present = _present(target, repository, [d for d in wanted if d not in unasked])
    steps = []
    for digest, (size, what) in wanted.items():
        if digest in known or digest in present:
            action = "present"
        elif what == "base layer":
            action = "mount" if assembly.base_host == target.host else "copy"
        else:
            action = "upload"
        steps.append(BlobStep(digest, size, what, action))
    return steps


def _present(target: Registry, repository: str, digests: Sequence[str]) -> set:
    """Which of these blobs the repository has: the HEADs go side by side, one connection each."""
    asks = [in_background(functools.partial(target.fork().has_blob, repository, d)) for d in digests[1:]]
    answers = [target.has_blob(repository, digests[0])] if digests else []
    answers += [ask() for ask in asks]
    return {d for d, here in zip(digests, answers) if here}


def _blob_bytes(assembly: Assembly, digest: str) -> Optional[bytes]:
    for image in assembly.images:
        if sha256_digest(image.config) == digest:
            return image.config
        for layer in image.layers:
            if layer.digest == digest:
                return layer.blob
    return None


if TYPE_CHECKING:
    Session = Callable[[], Tuple[Registry, str]]  # waits for an upload session opened ahead: (client, location)


def _ask_target(target: Registry, repository: str, tag: str, asked: Dict[str, Any], credentials: Any,
                sessions: bool) -> Tuple[Callable[[], Any], List[Session]]:
    """(what is under the tag, upload sessions if `sessions`): as the executable asked them at start
    (image/head_start.py), or asked now."""
    early = head_start.take(asked, credentials)
    if early is not None:
        return early
    client = target.fork()
    return (in_background(lambda: client.find_manifest(repository, tag)),
            open_sessions(target, repository) if sessions else [])


def open_sessions(target: Registry, repository: str, count: int = 2) -> List[Session]:
    """Upload sessions opened while the image is assembled: a POST needs no digest, so a task edit's
    code and config then go up in one round trip of time each instead of two."""
    def start(client: Registry) -> Tuple[Registry, str]:
        return client, client.start_upload(repository)

    return [in_background(functools.partial(start, target.fork())) for _ in range(count)]


def close_sessions(sessions: Sequence[Session]) -> None:
    """Cancel the sessions a push did not use (an unchanged image uses none)."""
    for session in sessions:
        try:
            client, location = session()
            client.cancel_upload(location)
        except FlowimgError:
            pass  # the registry forgets abandoned uploads on its own


def push_content(assembly: Assembly, target: Registry, repository: str, base: Registry, log: Log,
                 by_digest: bool = True, known: Sequence[str] = (), sessions: Sequence[Session] = ()) -> None:
    """Blobs, then (`by_digest`, for a check before tagging, and always for an index) manifests by
    digest: everything but the tag, which `put_tag` writes last. Uploads go side by side, one
    connection each, so a task edit's code and config cost one round trip of time, not two."""
    uploads = []
    for step in blob_steps(assembly, target, repository, known, ask_small=False):
        if step.action == "present":
            continue
        if step.action == "mount" and target.mount_blob(repository, step.digest, assembly.base_repository):
            log(f"mounted {step.what} {step.digest[:19]} from {assembly.base_repository}")
            continue
        uploads.append(step)

    own = [(step, _blob_bytes(assembly, step.digest)) for step in uploads]
    for step, data in own:
        if data is None:  # a base layer from another registry: copied through here, one at a time
            target.upload_blob(repository, base.get_blob(assembly.base_repository, step.digest), step.digest)
    sends = [(step, data) for step, data in own if data is not None]
    opened = list(sessions[:len(sends)])
    close_sessions(sessions[len(sends):])

    def send(index: int, step: BlobStep, data: bytes) -> None:
        if index < len(opened):
            client, location = opened[index]()
            client.upload_blob(repository, data, step.digest, location)
        else:
            target.fork().upload_blob(repository, data, step.digest)

    waits = [in_background(functools.partial(send, i, step, data)) for i, (step, data) in enumerate(sends)]
    for wait in waits:
        wait()
    for step in uploads:
        log(f"uploaded {step.what} {step.digest[:19]} ({step.size} bytes)")
    if not by_digest and assembly.index is None:
        return
    for image in assembly.images:
        target.put_manifest(repository, image.digest, image.manifest, OCI_MANIFEST)
    if assembly.index is not None:
        target.put_manifest(repository, assembly.digest, assembly.index, OCI_INDEX)


if TYPE_CHECKING:
    _T = TypeVar("_T")


def in_background(call: Callable[[], _T]) -> Callable[[], _T]:
    """Start `call` on a thread; the function returned waits for its result or raises its error."""
    import threading

    box: Dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def result() -> _T:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    return result


def put_tag(assembly: Assembly, target: Registry, repository: str, tag: str) -> None:
    data, media_type = assembly.top
    target.put_manifest(repository, tag, data, media_type)


# -- local outputs -------------------------------------------------------------------------------------
def _all_blobs(assembly: Assembly, base: Registry) -> Dict[str, bytes]:
    blobs: Dict[str, bytes] = {}
    for image in assembly.images:
        for layer in image.base_layers:
            if layer["digest"] not in blobs:
                blobs[layer["digest"]] = base.get_blob(assembly.base_repository, layer["digest"])
        for own in image.layers:
            blobs[own.digest] = own.blob
        blobs[sha256_digest(image.config)] = image.config
        blobs[image.digest] = image.manifest
    return blobs


def write_oci_layout(assembly: Assembly, folder: str, reference: str, base: Registry) -> None:
    """An OCI image layout (oci-layout, index.json, blobs/sha256/...) that skopeo, crane or podman read."""
    blobs = _all_blobs(assembly, base)
    top, media_type = assembly.top
    blobs[assembly.digest] = top
    os.makedirs(os.path.join(folder, "blobs", "sha256"), exist_ok=True)
    for digest, data in blobs.items():
        with open(os.path.join(folder, "blobs", "sha256", digest.split(":", 1)[1]), "wb") as fh:
            fh.write(data)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": media_type, "digest": assembly.digest, "size": len(top),
        "annotations": {"org.opencontainers.image.ref.name": reference}}]}
    with open(os.path.join(folder, "index.json"), "wb") as fh:
        fh.write(_canonical(index))
    with open(os.path.join(folder, "oci-layout"), "wb") as fh:
        fh.write(_canonical({"imageLayoutVersion": "1.0.0"}))


def docker_archive(assembly: Assembly, reference: str, base: Registry, platform: str) -> bytes:
    """A `docker save` tarball of one platform's image, which `docker load` reads on any engine."""
    import tarfile

    image = next((i for i in assembly.images if i.platform == platform), assembly.images[0])
    blobs = _all_blobs(assembly, base)
    config_name = sha256_digest(image.config).split(":", 1)[1] + ".json"
    layers = [layer["digest"] for layer in image.base_layers] + [layer.digest for layer in image.layers]
    files = {config_name: image.config,
             "manifest.json": _canonical([{"Config": config_name, "RepoTags": [reference],
                                           "Layers": [f"{d.split(':', 1)[1]}.tar.gz" for d in layers]}])}
    for digest in layers:
        files[f"{digest.split(':', 1)[1]}.tar.gz"] = blobs[digest]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


# -- the whole build ---------------------------------------------------------------------------------------
def _cache_dir() -> str:
    from ..home import cache_path

    return cache_path()


def _registries(spec: ImageSpec, options: BuildOptions, insecure: Sequence[str]
                ) -> Tuple[Registry, Optional[Registry], str, str]:
    """(base registry, target registry or None, target repository, tag)."""
    base_host, _, _ = split_image(spec.base_image)
    if base_host is None:
        raise FlowimgError(f"base image {spec.base_image} names no registry host; push it to a registry "
                           "(e.g. localhost:5000/...) and use that name, or use --builder docker")
    target_host, repository, _ = split_image(f"{spec.repository}:{spec.tag}")
    target = None
    if target_host is not None:
        target = registry_for(target_host, insecure, options.credentials)
    base = target if target is not None and target_host == base_host else registry_for(base_host, insecure)
    return base, target, repository, spec.tag


def _assemble(spec: ImageSpec, options: BuildOptions, packages: Sequence[str], base: Registry) -> Assembly:
    platforms = tuple(dict.fromkeys(options.platforms)) or (host_platform_name(),)
    for name in platforms:
        parse_platform(name)
    return assemble(spec, platforms, packages, base, _cache_dir())


def build_image(spec: ImageSpec, options: Optional[BuildOptions], packages: Sequence[str], *, push: bool,
                check: bool, insecure: Sequence[str], log: Log) -> Optional[str]:
    """Assemble, check, push (tag last), load and/or write a layout; returns the pushed digest."""
    options = options or BuildOptions()
    if check:
        from .healthcheck import healthcheck_mode

        healthcheck_mode()  # a bad FLOWIMG_HEALTHCHECK fails before anything is assembled or sent
    base, target, repository, tag = _registries(spec, options, insecure)
    under_tag: Optional[Callable[[], Any]] = None
    sessions: List[Session] = []
    pushed_to = head_start.target_of(target.host, insecure, repository, tag, spec.base_image) if target else {}
    if push and target is not None:  # asked, and sessions opened, while the image is assembled
        under_tag, sessions = _ask_target(target, repository, tag, pushed_to, options.credentials, sessions=True)
    assembly = _assemble(spec, options, packages, base)
    log(f"Assembled {spec.image_ref} ({', '.join(i.platform for i in assembly.images)}): {assembly.digest}")
    pushed = None
    if push and target is not None and under_tag is not None:
        current = under_tag()
        if current is not None and current[2] == assembly.digest:
            close_sessions(sessions)
            log(f"unchanged: {spec.image_ref} is already {assembly.digest}; nothing uploaded")
            pushed = assembly.digest
        else:
            fast, why = _plan_fast_check(spec, assembly) if check else (None, "")
            engine = _engine_or_none() if check and fast is None else None
            if check and fast is None and engine is None:
                check_locally(spec, log)
            checked_here = None
            if fast is not None:  # beside the upload; the tag waits for it
                from .healthcheck import run_fast_check

                checked_here = in_background(functools.partial(run_fast_check, fast, spec, _host_image(assembly), log))
            try:
                push_content(assembly, target, repository, base, log, by_digest=engine is not None,
                             known=_referenced_blobs(current), sessions=sessions)
            finally:  # its temporary folder and process end before the build does
                if checked_here is not None:
                    checked_here()
            removed = None
            if engine is not None:
                removed = _check_in_engine(engine, f"{spec.repository}@{_host_image(assembly).digest}", pull=True,
                                           log=log, credentials=options.credentials, why=why,
                                           passed=_host_image(assembly))
            try:
                put_tag(assembly, target, repository, tag)
            finally:
                if removed is not None:
                    removed()
            log(f"pushed {spec.image_ref} as {assembly.digest}")
            pushed = assembly.digest
        head_start.remember(pushed_to, options.credentials)
    elif push:
        log("No registry_url: nothing pushed")
    if options.load:
        engine = _engine_or_none()
        if engine is None:
            raise FlowimgError("--load needs a Docker engine and none answers; drop --load or start Docker")
        engine.load(docker_archive(assembly, spec.image_ref, base, _host_image(assembly).platform))
        log(f"loaded {spec.image_ref} into the local engine")
        if check and pushed is None:
            _check_in_engine(engine, spec.image_ref, pull=False, log=log)
    elif check and pushed is None:
        check_locally(spec, log)
    if options.output:
        write_oci_layout(assembly, options.output, spec.image_ref, base)
        log(f"wrote an OCI layout of {spec.image_ref} to {options.output}")
    return pushed


def _referenced_blobs(found: Optional[Tuple[bytes, str, str]]) -> List[str]:
    """Blobs a manifest references (none for an index): the registry keeps them, no HEAD needed."""
    if found is None or found[1] in INDEX_TYPES:
        return []
    manifest = json.loads(found[0])
    return [blob["digest"] for blob in manifest.get("layers", []) + [manifest.get("config") or {}] if "digest" in blob]


def _host_image(assembly: Assembly) -> PlatformImage:
    here = host_platform_name()
    return next((i for i in assembly.images if i.platform == here), assembly.images[0])


def _plan_fast_check(spec: ImageSpec, assembly: Assembly) -> Tuple[Any, str]:
    """(how to check the image here, or None), and why not: see image/healthcheck.py."""
    from .healthcheck import plan_fast_check

    return plan_fast_check(spec, _host_image(assembly), host_platform_name())


def _engine_or_none() -> Any:
    from .engine import Engine

    try:
        return Engine.shared()
    except FlowimgError:
        return None


def _check_in_engine(engine: Any, reference: str, pull: bool, log: Log,
                     credentials: Optional[Credentials] = None, why: str = "",
                     passed: Optional[PlatformImage] = None) -> Callable[[], None]:
    """Every flow loads in the new image, run by digest; a failure leaves the tag where it was.
    A pulled image is removed again while the caller writes the tag: the returned function waits for that.
    When it passes, the engine vouches for `passed`'s environment with the Python the check ran on, so later
    code-only rebuilds are checked here (image/healthcheck.py)."""
    log(f"Checking that every flow loads in {reference}" + (f" (in the engine: {why})" if why else ""))
    if pull:
        auth = {"username": credentials.username, "password": credentials.password} if credentials else None
        engine.pull(reference, auth=auth)
    result = engine.run(reference, ["--check"], log=lambda _: None)
    removed: Callable[[], None] = in_background(functools.partial(engine.remove_image, reference)) if pull \
        else (lambda: None)
    if result.exit_code != 0:
        removed()
        problems = [line for line in result.output.splitlines() if line.strip()][-6:]
        raise FlowimgError("health check failed in the built image (the tag was not moved): " + " | ".join(problems))
    log(result.output.strip())
    python = re.search(r"^checked with Python (\d+\.\d+)\.", result.output, re.MULTILINE)
    if passed is not None and python:
        from .healthcheck import record_passed

        record_passed(passed, python.group(1))
    return removed


def check_locally(spec: ImageSpec, log: Log) -> None:
    """The in-image check (every flow loads and has its recorded structure), run with this Python."""
    from ..loading import flow_from_bytes, load_script, pick_flow
    from ..manifest import loads
    from ..runtime import check_structure
    from .spec import covered_by_files

    pickles = dict(spec.pickles)
    for name, entry in sorted(loads(spec.manifest_text, spec.image_ref)["flows"].items()):
        if entry["stored_as_script"]:
            local = covered_by_files(spec.copies, entry["path"])
            if local is None:
                log(f"flow '{name}': {entry['path']} comes from the base image; not checked without an engine")
                continue
            try:
                flow = pick_flow(load_script(local), name, local)
            except FlowimgError as exc:
                raise FlowimgError(f"health check failed (nothing pushed): {exc}") from None
        else:
            flow = flow_from_bytes(pickles[entry["path"]])
        check_structure(flow, entry["structure"], "rebuild the image")
    log("No Docker engine answers: checked here, with this Python, that every flow loads")


def plan_layers(spec: ImageSpec, options: Optional[BuildOptions], packages: Sequence[str],
                insecure: Sequence[str]) -> Dict[str, Any]:
    """Each blob a build would send, its digest and whether it would be uploaded, and why it changed."""
    options = options or BuildOptions()
    base, target, repository, tag = _registries(spec, options, insecure)
    under_tag = None
    if target is not None:  # asked while the image is assembled
        asked = head_start.target_of(target.host, insecure, repository, tag, spec.base_image)
        under_tag = _ask_target(target, repository, tag, asked, options.credentials, sessions=False)[0]
        head_start.remember(asked, options.credentials)
    assembly = _assemble(spec, options, packages, base)
    current = under_tag() if under_tag is not None else None
    steps = blob_steps(assembly, target, repository, known=_referenced_blobs(current)) if target else []
    reasons = why_changed(assembly, target, repository, current) if target and current else {}
    return {"digest": assembly.digest, "unchanged": current is not None and current[2] == assembly.digest,
            "layers": [{"what": s.what, "digest": s.digest, "size": s.size, "action": s.action,
                        "why": reasons.get(s.what, "")} for s in steps]}


def why_changed(assembly: Assembly, target: Registry, repository: str,
                current: Tuple[bytes, str, str]) -> Dict[str, str]:
    """For each of our layers, which input differs from the image under the tag now (`current`)."""
    try:
        data, media_type, _ = current
        old = json.loads(data)
        if media_type in INDEX_TYPES:
            data, _, _ = target.get_manifest(repository, old["manifests"][0]["digest"])
            old = json.loads(data)
        old_layers = {layer["digest"] for layer in old.get("layers", [])}
        if all(layer.digest in old_layers for layer in assembly.images[0].layers):
            return {}
        config_digest = old["config"]["digest"]
        config = json.loads(_by_digest(os.path.join(_cache_dir(), "manifests"), config_digest,
                                       lambda: target.get_blob(repository, config_digest)))
    except (FlowimgError, KeyError, IndexError, ValueError):
        return {}
    from ..manifest import MANIFEST_LABEL

    labels = (config.get("config") or {}).get("Labels") or {}
    reasons = {}
    for layer in assembly.images[0].layers:
        if layer.digest in old_layers:
            continue
        if layer.role == "code":
            reasons["code"] = _code_reason(labels.get(MANIFEST_LABEL, "{}"), assembly)
        elif layer.role == "runtime":
            reasons["runtime"] = f"flowimg sources changed (image had flowimg {labels.get('io.flowimg.version', '?')})"
        else:
            reasons[layer.role] = "requirements, wheels, platform or Python changed: " + ", ".join(layer.inputs)
    return reasons


def _code_reason(old_manifest: str, assembly: Assembly) -> str:
    from ..manifest import MANIFEST_LABEL

    new_config = json.loads(assembly.images[0].config)
    try:
        old = json.loads(old_manifest).get("flows", {})
        new = json.loads(new_config["config"]["Labels"][MANIFEST_LABEL]).get("flows", {})
    except (ValueError, KeyError, AttributeError):
        return "the code layer's files changed"
    changed = [f"script of flow '{n}' changed" for n in sorted(new) if n in old
               and old[n].get("script_sha256") != new[n].get("script_sha256")]
    changed += [f"flow '{n}' added" for n in sorted(set(new) - set(old))]
    changed += [f"flow '{n}' removed" for n in sorted(set(old) - set(new))]
    return ", ".join(changed) or "files in the files mapping changed"
