"""`flowimg run --image`: an image holding only dependencies runs the newest script, fetched at run time."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli_helpers import seed_flow
from docker_service import PIP_BASE_IMAGE, docker

pytestmark = pytest.mark.usefixtures("no_new_containers")

SECRET_KEY = "s3cret-value-never-shown-4711"


@pytest.fixture(scope="session")
def boto3_image(engine, tmp_path_factory):
    """Python + boto3 only, built without flowimg: the run lends it flowimg's runtime read-only."""
    ref = "flowimg-test/boto3-deps:latest"
    if docker("image", "inspect", ref, check=False).returncode != 0:
        folder = tmp_path_factory.mktemp("boto3-image")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d",
                        str(folder / "wheels"), "boto3"], check=True)
        (folder / "Dockerfile").write_text(
            f"FROM {PIP_BASE_IMAGE}\nCOPY wheels /wheels\n"
            "RUN python3 -m pip install -q --no-index --find-links /wheels boto3 && rm -rf /wheels\n")
        docker("build", "-q", "--network", "none", "-t", ref, str(folder))
    return ref


def test_s3_script_runs_inside_an_image_and_picks_up_edits(cli, tmp_path, s3_bucket, s3_endpoint, boto3_image,
                                                            monkeypatch, flowimg_home):
    monkeypatch.setenv("AWS_CREDENTIALS", json.dumps({"ACCESS_KEY": "testing", "SECRET_ACCESS_KEY": SECRET_KEY}))
    script = tmp_path / "s3_flow.py"
    storage = (f"flow.storage = S3(bucket={s3_bucket!r}, stored_as_script=True, "
               f"client_options={{'endpoint_url': {s3_endpoint!r}, 'region_name': 'us-east-1'}})\n")
    script.write_text(seed_flow(imports="from flowimg.storage import S3", storage=storage))
    assert "Version: 1" in cli("register", "-p", str(script), "--project", "Cloud").stdout
    run = ("run", "example", "--project", "Cloud", "--image", boto3_image, "--network", "host")
    first = cli(*run)
    assert first.stdout.strip() == "[1, 2, 3, 4, 5]"
    assert f"Fetched s3://{s3_bucket}/" in first.stderr
    script.write_text(seed_flow(printed="'new code', len(data)", imports="from flowimg.storage import S3", storage=storage))
    assert "Skipped (metadata unchanged)" in cli("register", "-p", str(script), "--project", "Cloud").stdout
    second = cli(*run)
    assert second.stdout.strip() == "new code 5"
    for text in (first.stdout + first.stderr, second.stdout + second.stderr, (flowimg_home / "flowimg.db").read_bytes().decode("latin-1")):
        assert SECRET_KEY not in text
