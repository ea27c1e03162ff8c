"""`flowimg deploy --compose`: the whole file text, and one-line errors for what cannot be deployed."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from flowimg.backend import open_backend
from flowimg.backend.base import FlowVersion
from flowimg.deploy.compose import render_compose, service_name
from flowimg.storage import Docker, Local

from cli_helpers import one_line_error

DIGEST = "sha256:" + "ab" * 32

VERSION = FlowVersion(
    id="f-123", project="demo", name="Seed Flow", version=3, structure={"tasks": ["a"]}, structure_hash="h",
    storage={}, labels=[], parameters={}, metadata_hash="m", registered_at="2026-11-27T00:00:00Z",
    source="flows/seed.py",
)

GOLDEN = """\
services:
  seed-flow:
    image: localhost:5000/seed@sha256:abababababababababababababababababababababababababababababababab
    command:
    - Seed Flow
    - --expect-structure-json
    - '{"tasks": ["a"]}'
    - --params-json
    - '{}'
    - --register-hint
    - flowimg register -p flows/seed.py --project demo
    network_mode: host
    restart: 'no'
    labels:
      io.flowimg.flow: Seed Flow
      io.flowimg.project: demo
      io.flowimg.version: '3'
      io.flowimg.flow-id: f-123
      io.flowimg.flowimg-version: 0.1.0
    environment:
      API_TOKEN: ${API_TOKEN}
      GIT_TOKEN: ${GIT_TOKEN}
"""


def test_compose_file_is_exactly_the_golden_text_with_secrets_by_name_only():
    text = render_compose(VERSION, f"localhost:5000/seed@{DIGEST}", ["GIT_TOKEN", "API_TOKEN"], "0.1.0")
    assert text == GOLDEN
    service = yaml.safe_load(text)["services"]["seed-flow"]
    assert service["network_mode"] == "host" and "ports" not in service and "networks" not in service


# The Compose Specification's schema, from a PyPI wheel (see compose_spec/NOTICE); its "$schema" URI is
# one jsonschema does not know by that spelling, so the draft is named here.
COMPOSE_SCHEMA = jsonschema.Draft201909Validator(
    json.loads((Path(__file__).parent / "compose_spec" / "compose_spec.json").read_text()))


def test_compose_file_is_valid_against_the_compose_specification():
    COMPOSE_SCHEMA.validate(yaml.safe_load(GOLDEN))


@pytest.mark.parametrize("key,value,problem", [
    ("restart", False, "False is not of type 'string'"),
    ("network-mode", "host", "'network-mode' does not match any of the regexes"),
])
def test_the_compose_schema_catches_what_compose_would_reject(key, value, problem):
    """An unquoted `restart: no` is a YAML boolean, and compose refuses unknown service keys."""
    broken = yaml.safe_load(GOLDEN)
    broken["services"]["seed-flow"][key] = value
    with pytest.raises(jsonschema.ValidationError, match=problem):
        COMPOSE_SCHEMA.validate(broken)


def test_service_names_keep_only_compose_characters():
    assert service_name("My Flow/ä 2") == "my-flow-2"
    assert service_name("***") == "flow"


def _register(storage) -> None:
    with open_backend() as db:
        db.register("demo", "example", structure={"tasks": []}, structure_hash="h", storage=storage.to_dict(),
                    labels=[], parameters={}, metadata_hash="m")


def test_cli_writes_the_compose_file_with_the_pinned_digest(cli, tmp_path):
    _register(Docker(registry_url="localhost:5000", image_name="seed", image_tag="1", image_digest=DIGEST))
    out = tmp_path / "compose.yaml"
    result = cli("deploy", "example", "--project", "demo", "--compose", "--output", str(out))
    assert f"Wrote {out}" in result.stderr
    document = yaml.safe_load(out.read_text())
    COMPOSE_SCHEMA.validate(document)
    service = document["services"]["example"]
    assert service["image"] == f"localhost:5000/seed@{DIGEST}"
    assert service["command"][0] == "example"


def test_cli_uses_the_tag_when_not_pinned(cli):
    _register(Docker(registry_url="localhost:5000", image_name="seed", image_tag="7"))
    result = cli("deploy", "example", "--project", "demo", "--compose")
    assert yaml.safe_load(result.stdout)["services"]["example"]["image"] == "localhost:5000/seed:7"


def test_flow_without_an_image_is_one_line(cli, tmp_path):
    _register(Local(path=str(tmp_path / "flow.py"), stored_as_script=True))
    error = one_line_error(cli("deploy", "example", "--project", "demo", "--compose", ok=False))
    assert "has no image" in error and "Docker" in error


def test_no_target_is_one_line(cli):
    _register(Docker(registry_url="localhost:5000", image_name="seed"))
    error = one_line_error(cli("deploy", "example", "--project", "demo", ok=False))
    assert "--compose or --kubernetes" in error


def test_unwritable_output_is_one_line(cli, tmp_path):
    _register(Docker(registry_url="localhost:5000", image_name="seed"))
    missing = tmp_path / "no-such-dir" / "compose.yaml"
    error = one_line_error(cli("deploy", "example", "--project", "demo", "--compose", "-o", str(missing), ok=False))
    assert "cannot write" in error and "--output" in error
    assert not missing.parent.exists()
