"""Images run flows as a non-root user (uid 65532 unless `user=` says otherwise): a real engine."""
from __future__ import annotations

import textwrap
import time

import pytest

from docker_service import BASE_IMAGE, REGISTRY, docker
from flowimg import FlowimgError
from flowimg.storage import Docker

pytestmark = pytest.mark.usefixtures("no_new_containers")

FLOW = textwrap.dedent("""\
    import os, time
    from flowimg import task, Flow
    from flowimg.storage import Docker

    @task
    def who():
        with open("/opt/app/helper.py") as fh:
            print("uid", os.getuid(), "gid", os.getgid(), "read", fh.read().strip())
        time.sleep(float(os.environ.get("HOLD", "0")))

    with Flow("who") as flow:
        who()
    flow.storage = Docker(path="/opt/app/flow.py", files={{{folder!r}: "/opt/app"}}, stored_as_script=True,
                          registry_url={registry!r}, image_name={image!r}, base_image={base!r}{extra})
    """)


def build(cli, tmp_path, image_name, extra: str = "") -> str:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "helper.py").write_text("X = 1\n")
    (folder / "helper.py").chmod(0o600)  # private on disk; the image must still let the flow read it
    (folder / "flow.py").write_text(FLOW.format(folder=str(folder), registry=REGISTRY, image=image_name,
                                                base=BASE_IMAGE, extra=extra))
    cli("build", "-p", str(folder / "flow.py"), "--no-push")
    return f"{REGISTRY}/{image_name}:latest"


def test_flows_run_as_uid_65532_and_a_runs_secrets_stay_private(cli, tmp_path, image_name):
    ref = build(cli, tmp_path, image_name)
    assert docker("image", "inspect", "-f", "{{.Config.User}}", ref).stdout.strip() == "65532:65532"
    ran = docker("run", "--rm", "--network", "none", ref, "who", check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "uid 65532 gid 65532 read X = 1"
    name = f"flowimg-test-nonroot-{image_name}"
    docker("run", "-d", "--name", name, "--network", "none", "-e", "TOKEN=s3cret-4711", "-e", "HOLD=30", ref, "who")
    try:
        for _ in range(50):  # until the runtime is PID 1's python, running the task
            if "s3cret-4711" in docker("exec", "-u", "65532:65532", name, "cat", "/proc/1/environ", check=False).stdout:
                break
            time.sleep(0.2)
        own = docker("exec", "-u", "65532:65532", name, "cat", "/proc/1/environ", check=False)
        other = docker("exec", "-u", "1000:1000", name, "cat", "/proc/1/environ", check=False)
        assert "s3cret-4711" in own.stdout
        assert other.returncode != 0 and "s3cret-4711" not in other.stdout and "Permission denied" in other.stderr
    finally:
        docker("rm", "-f", name, check=False)


def test_user_none_keeps_the_base_images_user(cli, tmp_path, image_name):
    ref = build(cli, tmp_path, image_name, extra=", user=None")
    assert docker("image", "inspect", "-f", "{{.Config.User}}", ref).stdout.strip() == ""
    assert docker("run", "--rm", "--network", "none", ref, "who").stdout.startswith("uid 0 gid 0")


@pytest.mark.parametrize("user", ["", "a b", "root\nRUN x", "1:2:3", "-u"])
def test_a_user_that_is_not_a_name_or_uid_is_refused(user):
    with pytest.raises(FlowimgError, match="is not a user name or uid"):
        Docker(user=user)
