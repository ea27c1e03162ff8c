"""Flows baked into a Docker image, as scripts at `path` or as pickles; built, checked and pushed."""
from __future__ import annotations

import os
import posixpath
import re
import sys

from ..digests import sha256, sha256_hex
from ..errors import FlowimgError
from ..flow import Flow
from ..loading import check_flow_name, flow_from_bytes, flow_to_bytes, load_script, pick_flow
from .base import Storage, _quiet, script_sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..log import Log
    from typing import Any, Dict, IO, List, Optional, Tuple

PICKLE_DIR = "/opt/flowimg/flows"
DEFAULT_TAG = "latest"
# Flows run as this numeric uid:gid, which needs no account in the image, so any Python base image works
# and a run's environment (its secrets) is not readable by other users in the container.
DEFAULT_USER = "65532:65532"
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?")
# Settings a project may default in flowimg.yaml (docker: ...) or [tool.flowimg.docker].
CONFIGURABLE = ("registry_url", "image_name", "image_tag", "base_image", "python_dependencies", "env_vars",
                "extra_dockerfile_commands", "dockerfile", "build_kwargs", "wheelhouse", "builder", "insecure_registries")
PATH_SETTINGS = ("dockerfile", "wheelhouse")
SETTING_TYPES = {"path": "text", "files": "paths", "stored_as_script": "flag", "registry_url": "text",
                 "image_name": "text", "image_tag": "text", "base_image": "text", "python_dependencies": "texts",
                 "env_vars": "env", "extra_dockerfile_commands": "texts", "dockerfile": "text",
                 "build_kwargs": "mapping", "ignore_healthchecks": "flag", "wheelhouse": "text", "user": "text",
                 "builder": "text", "insecure_registries": "texts", "image_digest": "text"}
# Registered as image destinations and content digests, never as this machine's paths.
LOCAL_SETTINGS = ("files", "dockerfile", "wheelhouse")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "flow"


def default_base_image() -> str:
    return os.environ.get("FLOWIMG_BASE_IMAGE") or "python:{}.{}-slim".format(*sys.version_info[:2])


class Docker(Storage):
    kind = "Docker"

    def __init__(self, path: Optional[str] = None, files: Optional[Dict[str, str]] = None,
                 stored_as_script: bool = False, registry_url: Optional[str] = None,
                 image_name: Optional[str] = None, image_tag: Optional[str] = None,
                 base_image: Optional[str] = None, python_dependencies: Optional[List[str]] = None,
                 env_vars: Optional[Dict[str, str]] = None, extra_dockerfile_commands: Optional[List[str]] = None,
                 dockerfile: Optional[str] = None, build_kwargs: Optional[Dict[str, Any]] = None,
                 ignore_healthchecks: bool = False, wheelhouse: Optional[str] = None,
                 user: Optional[str] = DEFAULT_USER, builder: Optional[str] = None,
                 insecure_registries: Optional[List[str]] = None, image_digest: Optional[str] = None,
                 *, registered: Optional[Dict[str, Any]] = None) -> None:
        from ..settings import check_settings

        check_settings("Docker storage", dict(locals()), SETTING_TYPES)
        super().__init__(stored_as_script)
        self._registered: Dict[str, Any] = dict(registered or {})  # LOCAL_SETTINGS of a storage read back
        if stored_as_script and not path and not files and not self._registered.get("files"):
            raise FlowimgError(
                "Docker storage with stored_as_script=True needs path='/path/in/image/flow.py' "
                "(and files={'/local/flow.py': '/path/in/image/flow.py'} unless the image has it)"
            )
        self.path = path
        self.files = dict(files or {})
        self.registry_url = registry_url
        self.image_name = image_name
        self.image_tag = image_tag
        self.base_image = base_image
        self.python_dependencies = list(python_dependencies or [])
        self.env_vars = dict(env_vars or {})
        self.extra_dockerfile_commands = list(extra_dockerfile_commands or [])
        self.dockerfile = dockerfile
        self.build_kwargs = dict(build_kwargs or {})
        self.ignore_healthchecks = ignore_healthchecks
        self.wheelhouse = wheelhouse
        if user is not None and not _USER.fullmatch(user):
            raise FlowimgError(f"Docker storage: user {user!r} is not a user name or uid[:gid]; use e.g. "
                               f"user='{DEFAULT_USER}', user='root', or user=None for the base image's user")
        self.user = user
        # How to build (not registered), and the digest `register --pin` records so runs use exactly it.
        self.builder = builder
        self.insecure_registries = list(insecure_registries or [])
        self.image_digest = image_digest
        self.build_options: Any = None
        self._pinned = False
        self._built: Optional[str] = None
        self._pickles: Dict[str, bytes] = {}
        self._defaults_applied = False
        self._workdir: Optional[str] = None
        self.workdir_note: Optional[str] = None  # how the WORKDIR was found, when it was assumed

    @classmethod
    def from_settings(cls, stored_as_script: bool, settings: Dict[str, Any]) -> "Docker":
        """Registered settings hold digests, not paths; images and registrations made before
        that hold the paths themselves, which are kept as they are."""
        settings = dict(settings)
        registered = {}
        if isinstance(settings.get("files"), list):
            registered = {key: settings.pop(key, None) for key in LOCAL_SETTINGS}
        return cls(stored_as_script=stored_as_script, registered=registered, **settings)

    # -- registering flows -------------------------------------------------------------------
    def add_flow(self, flow: Flow, script_path: Optional[str] = None) -> str:
        if not self._defaults_applied:
            self._apply_defaults(script_path or os.getcwd())
        if self.image_name is None:
            self.image_name = _slug(flow.name)
        return super().add_flow(flow, script_path)

    def _apply_defaults(self, start: str) -> None:
        """Fill unset settings from the project's flowimg.yaml / pyproject.toml, paths relative to it."""
        from ..settings import check_settings, find_defaults

        config, folder = find_defaults(start)
        for key, value in (config.get("docker") or {}).items():
            if key not in CONFIGURABLE:
                raise FlowimgError(f"unknown docker setting '{key}' in the flowimg config near {start}; "
                                   f"known: {', '.join(CONFIGURABLE)}")
            check_settings(f"docker setting in the flowimg config in {folder}", {key: value}, SETTING_TYPES)
            if getattr(self, key) in (None, [], {}):
                if key in PATH_SETTINGS and isinstance(value, str):
                    value = os.path.normpath(os.path.join(folder, value))
                setattr(self, key, value)
        self.base_image = self.base_image or default_base_image()
        self.image_tag = self.image_tag or DEFAULT_TAG
        self._defaults_applied = True

    # -- where things land in the image -------------------------------------------------------
    def image_workdir(self) -> str:
        """The WORKDIR relative `path` and `files` destinations resolve against, as Docker would:
        the base image's WorkingDir (`/` when unset), read from the engine only when needed."""
        if self._workdir is None:
            self._workdir = self._find_workdir()
        return self._workdir

    def _find_workdir(self) -> str:
        from ..image.spec import check_destination

        destinations = [check_destination(d, s) for s, d in self.files.items()]
        destinations += [check_destination(self.path, "path")] if self.path else []
        if all(d.startswith("/") for d in destinations):
            return "/"
        from ..image.workdir import final_stage

        lines: List[str] = []
        if self.dockerfile:
            lines = _read_text(self.dockerfile, "dockerfile").splitlines()
        base, workdir = final_stage(lines + list(self.extra_dockerfile_commands), self.base_image or default_base_image())
        if workdir is not None and workdir.startswith("/"):
            return workdir
        from ..image.engine import Engine

        try:
            engine = Engine.shared()
        except FlowimgError:
            self.workdir_note = f"relative paths resolved against / (no engine to read {base}'s WorkingDir)"
            return posixpath.join("/", workdir or "")
        return posixpath.normpath(posixpath.join(engine.working_dir(base) or "/", workdir or ""))

    def _in_image(self, path: str) -> str:
        from ..image.spec import image_path

        return path if path.startswith("/") else image_path(path, self.image_workdir())

    def location_for(self, flow: Flow, script_path: Optional[str]) -> str:
        if not self.stored_as_script:
            location = f"{PICKLE_DIR}/{_slug(flow.name)}.flowpickle"
            other = next((n for n, where in self.flows.items() if where == location and n != flow.name), None)
            if other is not None:
                raise FlowimgError(
                    f"flows '{other}' and '{flow.name}' would share the pickle {location} in one image; "
                    "rename one so their names differ in more than case and punctuation"
                )
            self._pickles[flow.name] = flow_to_bytes(flow)
            return location
        if self.path:
            return self._in_image(self.path)
        from ..image.spec import check_files, image_path_for

        found = image_path_for(check_files(self.files, self.image_workdir()), script_path) if script_path else None
        if found is None:
            raise FlowimgError(
                f"cannot tell where flow '{flow.name}' lands in the image: pass path='/path/in/image.py' "
                "or map its script in files={...}"
            )
        return found

    # -- building ------------------------------------------------------------------------------
    @property
    def repository(self) -> str:
        name = self.image_name or "flowimg"
        return f"{self.registry_url.rstrip('/')}/{name}" if self.registry_url else name

    def run_image(self) -> Optional[str]:
        if self.image_digest:
            return f"{self.repository}@{self.image_digest}"
        return f"{self.repository}:{self.image_tag or DEFAULT_TAG}"

    def built_image(self) -> Optional[str]:
        return self._built or self.run_image()

    def image_spec(self) -> Any:
        """Validate everything the build needs before anything touches the engine."""
        from .. import __version__
        from ..image.spec import (ImageSpec, check_base_image, check_files, check_repository, check_tag,
                                  covered_by_files, env_pairs)
        from ..manifest import MANIFEST_LABEL, build_manifest, dumps, flow_entry

        if not self._defaults_applied:
            self._apply_defaults(os.getcwd())
        copies = check_files(self.files, self.image_workdir())
        base_image = check_base_image(self.base_image or default_base_image())
        repository = check_repository(self.repository)
        tag = check_tag(self.image_tag or DEFAULT_TAG)
        storage = portable_storage(self.to_dict())
        entries = []
        for name, location in sorted(self.flows.items()):
            flow = self._flow_objects[name]
            sha: Optional[str] = None
            if self.stored_as_script:
                local = covered_by_files(copies, location)
                if local is not None:
                    sha = script_sha256(_read_text(local, "flow script"))
            else:
                sha = sha256_hex(self._pickles[name])
            entries.append(flow_entry(
                name=name, path=location, stored_as_script=self.stored_as_script, storage=storage,
                structure=flow.structure(), structure_hash=flow.structure_hash(), script_sha256=sha,
            ))
        manifest_text = dumps(build_manifest(entries, __version__, sys.version.split()[0]))
        pickles: Tuple[Tuple[str, bytes], ...] = tuple(
            (self.flows[n], data) for n, data in sorted(self._pickles.items())
        )
        if self.wheelhouse and not os.path.isdir(self.wheelhouse):
            raise FlowimgError(f"wheelhouse {self.wheelhouse} is not a folder; point wheelhouse= at your wheels")
        user_dockerfile = None
        if self.dockerfile and not self.dockerfile.endswith(".j2"):
            user_dockerfile = _read_text(self.dockerfile, "dockerfile")
        labels = {
            MANIFEST_LABEL: manifest_text,
            "io.flowimg.version": __version__,
            "org.opencontainers.image.title": self.image_name or "",
            "org.opencontainers.image.version": tag,
            "org.opencontainers.image.description": "flowimg flows: " + (", ".join(sorted(self.flows)) or "none (a run image)"),
        }
        return ImageSpec(
            base_image=base_image, repository=repository, tag=tag, copies=copies,
            python_dependencies=tuple(self.python_dependencies), wheelhouse=self.wheelhouse,
            env_vars=env_pairs(self.env_vars), extra_commands=tuple(self.extra_dockerfile_commands),
            user_dockerfile=user_dockerfile, pickles=pickles, manifest_text=manifest_text, labels=labels,
            user=self.user,
        )

    def render(self, spec: Any = None, out: Optional[IO[bytes]] = None, buildkit: bool = False) -> Tuple[Any, str, Any]:
        """(spec, Dockerfile text, build context): everything `plan` shows and `build` sends.

        The context is streamed into `out` when given, else only hashed."""
        from ..image.context import build_context
        from ..image.render import render_dockerfile

        spec = spec or self.image_spec()
        template = _read_text(self.dockerfile, "dockerfile") if self.dockerfile and self.dockerfile.endswith(".j2") else None
        dockerfile = render_dockerfile(spec, template, buildkit)
        return spec, dockerfile, build_context(spec, dockerfile, runtime_packages(spec), out)

    def _choice(self, spec: Any) -> Any:
        from ..image.registry_builder import check_builder, choose

        options = self.build_options
        requested = check_builder((options and options.builder) or self.builder or "auto")
        return choose(requested, spec, self.registry_url, self.build_kwargs, self.dockerfile,
                      output=options and options.output, insecure=self.insecure_registries)

    def plan(self) -> Optional[Dict[str, Any]]:
        spec = self.image_spec()
        choice = self._choice(spec)
        layers = None
        if choice.builder == "registry":  # its registry round trips go while the Dockerfile and context are made
            from ..image.registry_builder import in_background, plan_layers

            options, packages, insecure = self.build_options, runtime_packages(spec), self.insecure_registries
            layers = in_background(lambda: plan_layers(spec, options, packages, insecure))
        engine_builder = self._docker_builder() if choice.builder == "docker" else None
        spec, dockerfile, context = self.render(spec, buildkit=bool(engine_builder and engine_builder.cli))
        planned = {"image": spec.image_ref, "dockerfile": dockerfile, "context": list(context.names),
                   "context_digest": context.digest, "excluded": list(context.excluded),
                   "ignore_patterns": list(context.patterns), "flows": dict(sorted(self.flows.items())),
                   "note": self.workdir_note, "builder": choice.builder, "builder_reason": choice.reason,
                   "engine_builder": engine_builder and engine_builder.reason}
        if layers is not None:
            planned.update(layers())
        return planned

    def build(self, push: bool = True, log: Log = _quiet) -> None:
        spec = self.image_spec()
        choice = self._choice(spec)
        log(f"Builder: {choice.builder} ({choice.reason})")
        if choice.builder == "registry":
            from ..image.registry_builder import build_image

            digest = build_image(spec, self.build_options, runtime_packages(spec), push=push,
                                 check=not self.ignore_healthchecks, insecure=self.insecure_registries, log=log)
            self._built = f"{self.repository}@{digest}"
        else:
            digest = self._build_docker(spec, push, log)
            self._built = spec.image_ref
        if self._pinned:
            if not digest:
                raise FlowimgError("--pin needs the image pushed to a registry to know its digest; give "
                                   "Docker storage registry_url= or register without --pin")
            self.image_digest = digest

    def pin(self, log: Log = _quiet) -> None:
        """Runs of this registration use the image by the digest this build pushes, not the moving tag."""
        self._pinned = True
        log("Runs will use the image by the digest this build pushes")

    def _docker_builder(self) -> Any:
        """BuildKit through the docker CLI when it can build this image, else docker-py's legacy builder."""
        from ..image.buildkit import docker_builder

        kwargs = {k: v for k, v in self.build_kwargs.items() if k != "network_mode"}
        return docker_builder(kwargs, explicit_login=bool(self.build_options and self.build_options.credentials))

    def _build_docker(self, spec: Any, push: bool, log: Log) -> Optional[str]:
        """The pushed digest, or None when the image stays in the local engine."""
        from ..image import buildkit
        from ..image.engine import Engine

        engine = Engine.shared()
        credentials = self.build_options and self.build_options.credentials
        if credentials:
            from ..image.reference import registry_of

            engine.login(registry_of(spec.repository), credentials.username, credentials.password)
        engine_builder = self._docker_builder()
        log(f"Engine builder: {engine_builder.reason}")
        import tempfile

        with tempfile.TemporaryFile(prefix="flowimg-context-") as context_file:
            spec, _, context = self.render(spec, context_file, buildkit=engine_builder.cli is not None)
            context_file.seek(0)
            previous = engine.image_id(spec.image_ref)
            kwargs = dict(self.build_kwargs)
            network = kwargs.pop("network_mode", "host" if spec.python_dependencies and not spec.wheelhouse else "none")
            log(f"Building image {spec.image_ref} (context {context.digest[:19]}, {len(context.names)} entries)")
            if engine_builder.cli is not None:
                image_id = buildkit.build(engine_builder.cli, context_file, spec.image_ref, log, network, kwargs)
            else:
                image_id = engine.build(context_file, spec.image_ref, log, network_mode=network, **kwargs)
        if not self.ignore_healthchecks:
            self._health_check(engine, image_id, previous, log)
        if push and self.registry_url:
            log(f"Pushing image {spec.image_ref}")
            return engine.push(spec.image_ref, log) or None
        if push:
            log("No registry_url: the image stays in the local engine")
        return None

    def _health_check(self, engine: Any, image_id: str, previous: Optional[str], log: Log) -> None:
        log("Checking that every flow loads in the image")
        result = engine.run(image_id, ["--check"], log=lambda _: None)
        if result.exit_code != 0:
            if image_id != previous:
                engine.remove_image(image_id)
            problems = [line for line in result.output.splitlines() if line.strip()][-6:]
            raise FlowimgError("health check failed in the built image (image removed): " + " | ".join(problems))
        log(result.output.strip())

    # -- running (inside the image) ------------------------------------------------------------------
    def get_flow(self, flow_name: str, log: Log = _quiet) -> Flow:
        location = os.path.abspath(self._flow_location(flow_name))  # a relative one: from the WORKDIR
        if self.stored_as_script:
            if not os.path.isfile(location):
                raise FlowimgError(
                    f"flow '{flow_name}': script {location} is not in the image; add it with "
                    f"files={{'/local/path.py': '{location}'}} or use a base image that has it"
                )
            return pick_flow(load_script(location), flow_name, location)
        try:
            with open(location, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise FlowimgError(f"cannot read the pickled flow {location} ({exc.strerror}); rebuild the image") from None
        return check_flow_name(flow_from_bytes(data), flow_name, location)

    def settings(self) -> Dict[str, Any]:
        """The same wherever the project is checked out: image destinations and content digests
        stand for `files`, `dockerfile` and `wheelhouse`, whose local paths differ between machines."""
        from ..image.spec import check_files

        local: Dict[str, Any] = dict(self._registered)
        if self.files:
            local["files"] = sorted(c.dest for c in check_files(self.files, self.image_workdir()))
        if self.dockerfile:
            local["dockerfile"] = content_digest(self.dockerfile, "dockerfile")
        if self.wheelhouse:
            local["wheelhouse"] = content_digest(self.wheelhouse, "wheelhouse")
        return dict(self._common_settings(), path=self._in_image(self.path) if self.path else None,
                    files=local.get("files") or [], dockerfile=local.get("dockerfile"),
                    wheelhouse=local.get("wheelhouse"))

    def earlier_settings(self) -> List[Dict[str, Any]]:
        """Settings as flowimg 0.1 registered them (local paths), so upgrading alone makes no new version."""
        if self._registered or not all(d.startswith("/") for d in list(self.files.values()) + [self.path or "/"]):
            return []
        earlier = dict(self._common_settings(), path=self.path, files=dict(sorted(self.files.items())),
                       dockerfile=self.dockerfile, wheelhouse=self.wheelhouse)
        del earlier["user"]  # 0.1 had no user setting
        return [earlier]

    def _common_settings(self) -> Dict[str, Any]:
        return {
            "registry_url": self.registry_url,
            "image_name": self.image_name, "image_tag": self.image_tag, "base_image": self.base_image,
            "python_dependencies": self.python_dependencies, "env_vars": dict(sorted(self.env_vars.items())),
            "extra_dockerfile_commands": self.extra_dockerfile_commands,
            "build_kwargs": self.build_kwargs, "ignore_healthchecks": self.ignore_healthchecks,
            "user": self.user,
            **({"image_digest": self.image_digest} if self.image_digest else {}),
        }

    def describe(self) -> str:
        return f"Docker {self.run_image()}"


def runtime_packages(spec: Any) -> List[str]:
    """The package folders copied into the image as its runtime: flowimg, and cloudpickle for pickles."""
    import flowimg

    packages = [os.path.dirname(flowimg.__file__)]
    if spec.pickles:
        import cloudpickle

        packages.append(os.path.dirname(cloudpickle.__file__))
    return packages


def portable_storage(storage: Dict[str, Any]) -> Dict[str, Any]:
    """The storage as the image's manifest records it: never the digest of the image itself."""
    settings = dict(storage.get("settings") or {})
    settings.pop("image_digest", None)
    return {**storage, "settings": settings}


def _read_text(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise FlowimgError(f"cannot read {what} {path}: {exc.strerror}; fix the path") from None
    except UnicodeDecodeError as exc:
        raise FlowimgError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def content_digest(path: str, what: str) -> str:
    """sha256 over a file's bytes, or over a folder's sorted relative names and file bytes."""
    digest = sha256()
    if os.path.isfile(path):
        digest.update(_read_bytes(path, what))
        return "sha256:" + digest.hexdigest()
    if not os.path.isdir(path):
        raise FlowimgError(f"{what} {path} does not exist; fix the path")
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode("utf-8", "surrogateescape") + b"\0")
            digest.update(sha256(_read_bytes(full, what)).digest())
    return "sha256:" + digest.hexdigest()


def _read_bytes(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise FlowimgError(f"cannot read {what} {path}: {exc.strerror}; fix the path") from None
