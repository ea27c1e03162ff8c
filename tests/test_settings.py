"""Project defaults for Docker storage: flowimg.yaml or [tool.flowimg.docker] in pyproject.toml."""
from __future__ import annotations

import pytest

from cli_helpers import seed_flow
from flowimg import FlowimgError
from flowimg.loading import load_script
from flowimg.storage import Docker


def storage_for(tmp_path, **kwargs):
    script = tmp_path / "flows" / "f.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(seed_flow())
    storage = Docker(path="/opt/f.py", files={str(script): "/opt/f.py"}, stored_as_script=True, **kwargs)
    storage.add_flow(load_script(str(script))["example"], str(script))
    return storage


def test_pyproject_defaults_fill_only_what_the_flow_left_unset(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flowimg.docker]\nregistry_url = "localhost:5000"\nbase_image = "team/base:3"\nwheelhouse = "wheels"\n')
    storage = storage_for(tmp_path, base_image="mine:1")
    assert storage.registry_url == "localhost:5000" and storage.base_image == "mine:1"
    assert storage.wheelhouse == str(tmp_path / "wheels")  # relative to the config file
    assert storage.run_image() == "localhost:5000/example:latest"


def test_yaml_defaults_and_unknown_settings(tmp_path):
    (tmp_path / "flowimg.yaml").write_text("docker:\n  image_tag: nightly\n")
    assert storage_for(tmp_path).image_tag == "nightly"
    (tmp_path / "flowimg.yaml").write_text("docker:\n  colour: blue\n")
    with pytest.raises(FlowimgError, match="unknown docker setting 'colour'"):
        storage_for(tmp_path)
