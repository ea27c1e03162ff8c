"""Flows baked into a Docker image, as scripts at `path` or as pickles; built, checked and pushed."""
from __future__ import annotations

import hashlib
import os
import platform
import re
from typing import Any, Dict, List, Optional, Tuple

from ..errors import FlowimgError
from ..flow import Flow
from ..loading import flow_from_bytes, flow_to_bytes, load_script, pick_flow
from .base import Log, Storage, _quiet, script_sha256

PICKLE_DIR = "/opt/flowimg/flows"
DEFAULT_TAG = "latest"
# Settings a project may default in flowimg.yaml (docker: ...) or [tool.flowimg.docker].
CONFIGURABLE = ("registry_url", "image_name", "image_tag", "base_image", "python_dependencies", "env_vars",
                "extra_dockerfile_commands", "dockerfile", "build_kwargs", "wheelhouse", "builder", "insecure_registries")
PATH_SETTINGS = ("dockerfile", "wheelhouse")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "flow"


def default_base_image() -> str:
    return os.environ.get("FLOWIMG_BASE_IMAGE") or "python:{}.{}-slim".format(*platform.python_version_tuple()[:2])


class Docker(Storage):
    kind = "Docker"

    def __init__(self, path: Optional[str] = None, files: Optional[Dict[str, str]] = None,
                 stored_as_script: bool = False, registry_url: Optional[str] = None,
                 image_name: Optional[str] = None, image_tag: Optional[str] = None,
                 base_image: Optional[str] = None, python_dependencies: Optional[List[str]] = None,
                 env_vars: Optional[Dict[str, str]] = None, extra_dockerfile_commands: Optional[List[str]] = None,
                 dockerfile: Optional[str] = None, build_kwargs: Optional[Dict[str, Any]] = None,
                 ignore_healthchecks: bool = False, wheelhouse: Optional[str] = None, builder: Optional[str] = None,
                 insecure_registries: Optional[List[str]] = None, image_digest: Optional[str] = None) -> None:
        super().__init__(stored_as_script)
        if stored_as_script and not path and not files:
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
        # How to build (not registered) and what the registry builder pushed (registered, so runs pin it).
        self.builder = builder
        self.insecure_registries = list(insecure_registries or [])
        self.image_digest = image_digest
        self.build_options: Any = None
        self._pickles: Dict[str, bytes] = {}
        self._defaults_applied = False

    # -- registering flows -------------------------------------------------------------------
    def add_flow(self, flow: Flow, script_path: Optional[str] = None) -> str:
        if not self._defaults_applied:
            self._apply_defaults(script_path or os.getcwd())
        if self.image_name is None:
            self.image_name = _slug(flow.name)
        return super().add_flow(flow, script_path)

    def _apply_defaults(self, start: str) -> None:
        """Fill unset settings from the project's flowimg.yaml / pyproject.toml, paths relative to it."""
        from ..settings import find_defaults

        config, folder = find_defaults(start)
        for key, value in (config.get("docker") or {}).items():
            if key not in CONFIGURABLE:
                raise FlowimgError(f"unknown docker setting '{key}' in the flowimg config near {start}; "
                                   f"known: {', '.join(CONFIGURABLE)}")
            if getattr(self, key) in (None, [], {}):
                if key in PATH_SETTINGS and isinstance(value, str):
                    value = os.path.normpath(os.path.join(folder, value))
                setattr(self, key, value)
        self.base_image = self.base_image or default_base_image()
        self.image_tag = self.image_tag or DEFAULT_TAG
        self._defaults_applied = True

    def location_for(self, flow: Flow, script_path: Optional[str]) -> str:
        if not self.stored_as_script:
            self._pickles[flow.name] = flow_to_bytes(flow)
            return f"{PICKLE_DIR}/{_slug(flow.name)}.flowpickle"
        if self.path:
            return self.path
        from ..image.spec import check_files, image_path_for

        location = image_path_for(check_files(self.files), script_path) if script_path else None
        if location is None:
            raise FlowimgError(
                f"cannot tell where flow '{flow.name}' lands in the image: pass path='/path/in/image.py' "
                "or map its script in files={...}"
            )
        return location

    # -- building ------------------------------------------------------------------------------
    @property
    def repository(self) -> str:
        name = self.image_name or "flowimg"
        return f"{self.registry_url.rstrip('/')}/{name}" if self.registry_url else name

    def run_image(self) -> Optional[str]:
        if self.image_digest:
            return f"{self.repository}@{self.image_digest}"
        return f"{self.repository}:{self.image_tag or DEFAULT_TAG}"

    def image_spec(self) -> Any:
        """Validate everything the build needs before anything touches the engine."""
        from .. import __version__
        from ..image.spec import ImageSpec, check_files, check_repository, check_tag, covered_by_files, env_pairs
        from ..manifest import MANIFEST_LABEL, build_manifest, dumps, flow_entry

        if not self._defaults_applied:
            self._apply_defaults(os.getcwd())
        copies = check_files(self.files)
        repository = check_repository(self.repository)
        tag = check_tag(self.image_tag or DEFAULT_TAG)
        storage = portable_storage(self.to_dict())
        entries = []
        for name, location in sorted(self.flows.items()):
            flow = self._flow_objects[name]
            sha = None
            if self.stored_as_script:
                local = covered_by_files(copies, location)
                if local is not None:
                    with open(local, encoding="utf-8") as fh:
                        sha = script_sha256(fh.read())
            else:
                sha = hashlib.sha256(self._pickles[name]).hexdigest()
            entries.append(flow_entry(
                name=name, path=location, stored_as_script=self.stored_as_script, storage=storage,
                structure=flow.structure(), structure_hash=flow.structure_hash(), script_sha256=sha,
            ))
        manifest_text = dumps(build_manifest(entries, __version__, platform.python_version()))
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
            base_image=self.base_image or default_base_image(), repository=repository, tag=tag, copies=copies,
            python_dependencies=tuple(self.python_dependencies), wheelhouse=self.wheelhouse,
            env_vars=env_pairs(self.env_vars), extra_commands=tuple(self.extra_dockerfile_commands),
            user_dockerfile=user_dockerfile, pickles=pickles, manifest_text=manifest_text, labels=labels,
        )

    def render(self, spec: Any = None) -> Tuple[Any, str, Any]:
        """(spec, Dockerfile text, build context): everything `plan` shows and `build` sends."""
        from ..image.context import build_context
        from ..image.render import render_dockerfile

        spec = spec or self.image_spec()
        template = _read_text(self.dockerfile, "dockerfile") if self.dockerfile and self.dockerfile.endswith(".j2") else None
        dockerfile = render_dockerfile(spec, template)
        return spec, dockerfile, build_context(spec, dockerfile, runtime_packages(spec))

    def _choice(self, spec: Any) -> Any:
        from ..image.registry_builder import check_builder, choose

        options = self.build_options
        requested = check_builder((options and options.builder) or self.builder or "auto")
        return choose(requested, spec, self.registry_url, self.build_kwargs, self.dockerfile,
                      output=options and options.output, insecure=self.insecure_registries)

    def plan(self) -> Optional[Dict[str, Any]]:
        spec = self.image_spec()
        choice = self._choice(spec)
        spec, dockerfile, context = self.render(spec)
        planned = {"image": spec.image_ref, "dockerfile": dockerfile, "context": list(context.names),
                   "context_digest": context.digest, "builder": choice.builder, "builder_reason": choice.reason}
        if choice.builder == "registry":
            from ..image.registry_builder import plan_layers

            planned.update(plan_layers(spec, self.build_options, runtime_packages(spec), self.insecure_registries))
        return planned

    def build(self, push: bool = True, log: Log = _quiet) -> None:
        spec = self.image_spec()
        choice = self._choice(spec)
        log(f"Builder: {choice.builder} ({choice.reason})")
        if choice.builder == "registry":
            from ..image.registry_builder import build_image

            self.image_digest = build_image(spec, self.build_options, runtime_packages(spec), push=push,
                                            check=not self.ignore_healthchecks, insecure=self.insecure_registries,
                                            log=log)
            self.built_image = self.run_image()
            return
        self._build_docker(spec, push, log)

    def _build_docker(self, spec: Any, push: bool, log: Log) -> None:
        from ..image.engine import Engine

        spec, _, context = self.render(spec)
        engine = Engine.shared()
        credentials = self.build_options and self.build_options.credentials
        if credentials and "/" in spec.repository:
            engine.login(spec.repository.split("/")[0], credentials.username, credentials.password)
        previous = engine.image_id(spec.image_ref)
        kwargs = dict(self.build_kwargs)
        network = kwargs.pop("network_mode", "host" if spec.python_dependencies and not spec.wheelhouse else "none")
        log(f"Building image {spec.image_ref} (context {context.digest[:19]}, {len(context.names)} entries)")
        image_id = engine.build(context.data, spec.image_ref, log, network_mode=network, **kwargs)
        if not self.ignore_healthchecks:
            self._health_check(engine, image_id, previous, log)
        if push and self.registry_url:
            log(f"Pushing image {spec.image_ref}")
            engine.push(spec.image_ref, log)
        elif push:
            log("No registry_url: the image stays in the local engine")
        self.built_image = spec.image_ref

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
        location = self._flow_location(flow_name)
        if self.stored_as_script:
            if not os.path.isfile(location):
                raise FlowimgError(
                    f"flow '{flow_name}': script {location} is not in the image; add it with "
                    f"files={{'/local/path.py': '{location}'}} or use a base image that has it"
                )
            return pick_flow(load_script(location), flow_name, location)
        with open(location, "rb") as fh:
            return flow_from_bytes(fh.read())

    def settings(self) -> Dict[str, Any]:
        return {
            "path": self.path, "files": dict(sorted(self.files.items())), "registry_url": self.registry_url,
            "image_name": self.image_name, "image_tag": self.image_tag, "base_image": self.base_image,
            "python_dependencies": self.python_dependencies, "env_vars": dict(sorted(self.env_vars.items())),
            "extra_dockerfile_commands": self.extra_dockerfile_commands, "dockerfile": self.dockerfile,
            "build_kwargs": self.build_kwargs, "ignore_healthchecks": self.ignore_healthchecks,
            "wheelhouse": self.wheelhouse,
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
    """The storage as the image's manifest records it: no local paths and no digest of the image itself,
    so the same flows give the same image bytes from any checkout folder."""
    settings = dict(storage.get("settings") or {})
    settings.pop("image_digest", None)
    files = settings.get("files") or {}
    if files:
        root = os.path.dirname(os.path.commonpath([os.path.abspath(p) for p in files]))
        settings["files"] = {os.path.relpath(os.path.abspath(src), root): dest for src, dest in sorted(files.items())}
    for key in PATH_SETTINGS:
        if settings.get(key):
            settings[key] = os.path.basename(str(settings[key]).rstrip("/"))
    return {**storage, "settings": settings}


def _read_text(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise FlowimgError(f"cannot read {what} {path}: {exc.strerror}; fix the path") from None
