"""`flowimg run --image`: an image holding only dependencies runs the newest script, fetched at run time.

The S3 runner image is made by `flowimg run-image` from a local wheelhouse (no network in the build);
the Git-hosted cases in test_git_cli.py use bare base images that flowimg lends its runtime to.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli_helpers import seed_flow
from docker_service import PIP_BASE_IMAGE

pytestmark = pytest.mark.usefixtures("no_new_containers")

SECRET_KEY = "s3cret-value-never-shown-4711"


@pytest.fixture(scope="session")
def boto3_wheelhouse(tmp_path_factory):
    """boto3 and its dependencies as wheels, fetched once from the package index before any build."""
    folder = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(folder), "boto3"],
                   check=True)
    return folder


def test_s3_script_runs_inside_an_image_and_picks_up_edits(cli, tmp_path, s3_bucket, s3_endpoint, boto3_wheelhouse,
                                                            monkeypatch, flowimg_home, engine):
    monkeypatch.setenv("AWS_CREDENTIALS", json.dumps({"ACCESS_KEY": "testing", "SECRET_ACCESS_KEY": SECRET_KEY}))
    script = tmp_path / "s3_flow.py"
    storage = (f"flow.storage = S3(bucket={s3_bucket!r}, stored_as_script=True, "
               f"client_options={{'endpoint_url': {s3_endpoint!r}, 'region_name': 'us-east-1'}})\n")
    script.write_text(seed_flow(imports="from flowimg.storage import S3", storage=storage))
    assert "Version: 1" in cli("register", "-p", str(script), "--project", "Cloud").stdout
    runner = "flowimg-test/s3-runner:latest"
    engine.append(runner)
    built = cli("run-image", runner, "-p", str(script), "--base-image", PIP_BASE_IMAGE,
                "--wheelhouse", str(boto3_wheelhouse), "--no-push")
    assert built.stdout.strip() == runner and "--no-index --find-links" in built.stderr and "boto3" in built.stderr
    run = ("run", "example", "--project", "Cloud", "--image", runner, "--network", "host")
    first = cli(*run)
    assert first.stdout.strip() == "[1, 2, 3, 4, 5]"
    assert f"Fetched s3://{s3_bucket}/" in first.stderr
    script.write_text(seed_flow(printed="'new code', len(data)", imports="from flowimg.storage import S3", storage=storage))
    assert "Skipped (metadata unchanged)" in cli("register", "-p", str(script), "--project", "Cloud").stdout
    second = cli(*run)
    assert second.stdout.strip() == "new code 5"
    for text in (first.stdout + first.stderr, second.stdout + second.stderr, (flowimg_home / "flowimg.db").read_bytes().decode("latin-1")):
        assert SECRET_KEY not in text
