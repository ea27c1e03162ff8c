"""Spec -> Dockerfile text. Pure: the same spec always renders the same text."""
from __future__ import annotations

import json
import os
import re

from ..digests import sha256_hex
from ..errors import FlowimgError
from .quoting import docker_quoted, shell_quoted
from .spec import ImageSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

# A parser directive at the top of a user's Dockerfile may change the escape character flowimg quotes with.
_ESCAPE_DIRECTIVE = re.compile(r"#\s*escape\s*=\s*(\S)", re.IGNORECASE)


def templates_dir() -> str:
    """Where Dockerfile.j2 is: inside the wheel, or templates/ in a source checkout. Found through the
    package's __file__: importlib.resources would cost more to import than the render it serves."""
    from .. import templates

    return os.path.dirname(os.path.abspath(str(templates.__file__)))


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["docker_quoted"] = docker_quoted
    env.filters["shell_quoted"] = shell_quoted
    return env


def _check_escape_directive(user_dockerfile: Optional[str]) -> None:
    for line in (user_dockerfile or "").splitlines():
        if not line.startswith("#"):
            return
        found = _ESCAPE_DIRECTIVE.fullmatch(line.strip())
        if found and found.group(1) != "\\":
            raise FlowimgError(
                f"the dockerfile sets '{line.strip()}'; flowimg writes values with Docker's default escape "
                "character \\, so remove the escape directive"
            )


_SLOT = "flowimg-label-slot-{}-3c1f"  # a label value's place in a cached text


def render_dockerfile(spec: ImageSpec, template: Optional[str] = None, buildkit: bool = False) -> str:
    """`template` is the text of a user's .j2 that may extend "Dockerfile.j2" and override blocks;
    `buildkit` renders RUN --mount steps, which only BuildKit reads.

    Rendering is pure, so a text rendered before is read back by the hash of everything it was made
    from (FLOWIMG_HOME/cache/dockerfiles), and `plan` or a warm build never imports jinja2. With
    flowimg's own template the label values (the manifest changes with every edit) are left out of
    the key: the text holds slots that the quoted values fill, as the template's LABEL line quotes them."""
    _check_escape_directive(spec.user_dockerfile)
    labels = sorted(spec.labels.items())
    slots = template is None
    values = dict(base_image=spec.base_image, user_dockerfile=spec.user_dockerfile, env_vars=spec.env_vars,
                  python_dependencies=spec.python_dependencies, wheelhouse=spec.wheelhouse,
                  extra_commands=spec.extra_commands, user=spec.user, buildkit=buildkit,
                  labels=[(name, _SLOT.format(i)) for i, (name, _) in enumerate(labels)] if slots else labels)
    text = _cached_render(template, values)
    if not slots:
        return text
    at = text.rfind("\nLABEL ") + 1
    head, tail = text[:at], text[at:]
    for i, (name, value) in enumerate(labels):
        tail = tail.replace(docker_quoted(_SLOT.format(i)), docker_quoted(value, f"label {name}"), 1)
    return head + tail


def _cached_render(template: Optional[str], values: Dict[str, Any]) -> str:
    with open(os.path.join(templates_dir(), "Dockerfile.j2"), "rb") as fh:
        key = sha256_hex(fh.read() + json.dumps([template, values], sort_keys=True).encode())
    from ..home import cache_path, read_cached, write_cached

    cached = cache_path("dockerfiles", key)
    found = read_cached(cached)
    if found is not None:
        return found.decode("utf-8")
    text = _render(template, values)
    write_cached(cached, text.encode("utf-8"))
    return text


def _render(template: Optional[str], values: Dict[str, Any]) -> str:
    import jinja2

    env = _environment()
    try:
        tmpl = env.from_string(template) if template else env.get_template("Dockerfile.j2")
        text = tmpl.render(**values)
    except jinja2.TemplateError as exc:
        raise FlowimgError(f"cannot render the Dockerfile template: {exc}; fix the template") from None
    lines = [line.rstrip() for line in text.splitlines()]
    squeezed = [line for i, line in enumerate(lines) if line or (i and lines[i - 1])]
    return "\n".join(squeezed).strip() + "\n"
