"""`flowimg run --on swarm`: registered flows run as Swarm jobs on a real single-node swarm on loopback."""
from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid

import pytest

from cli_helpers import FLOWIMG, one_line_error, seed_flow
from docker_service import BASE_IMAGE, docker
from test_docker_e2e import docker_storage

from flowimg.errors import FlowimgError
from flowimg.targets import Launch, get_target
from flowimg.targets.swarm import CANCELLED_EXIT, _require_manager

pytestmark = pytest.mark.usefixtures("no_new_containers", "swarm")

SECRET = "swarm-s3cret-" + uuid.uuid4().hex


def docker_flow(tmp_path, image_name, printed="data", imports=""):
    """The seed flow in Docker storage, copied into its image at /opt/flows/my_flow.py."""
    script = tmp_path / "flows" / "my_flow.py"
    script.parent.mkdir(exist_ok=True)
    storage = docker_storage(image_name, path="'/opt/flows/my_flow.py'",
                             files=f"{{{str(script)!r}: '/opt/flows/my_flow.py'}}", stored_as_script="True")
    script.write_text(seed_flow(printed=printed, imports=f"from flowimg.storage import Docker\n{imports}", storage=storage))
    return script


def leftovers(name_prefix: str = "flowimg-run-") -> list:
    """Services, secrets and task containers of runs. Other sessions share the engine, so the containers
    are told apart by the label Swarm gives them, beyond what `no_new_containers` sees."""
    services = docker("service", "ls", "-q", "--filter", f"name={name_prefix}").stdout.split()
    secrets = docker("secret", "ls", "-q", "--filter", f"name={name_prefix}").stdout.split()
    containers = docker("ps", "-aq", "--filter", "label=com.docker.swarm.service.name").stdout.split()
    return services + secrets + containers


def wait_for_service(name: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        inspected = docker("service", "inspect", name, check=False)
        if inspected.returncode == 0:
            return inspected.stdout
        time.sleep(0.2)
    raise AssertionError(f"service {name} never appeared")


def test_seed_flow_runs_on_swarm_from_its_image_digest(cli, tmp_path, image_name):
    script = docker_flow(tmp_path, image_name)
    assert "Version: 1" in cli("register", "-p", str(script), "--project", "Swarm", "--pin").stdout
    ran = cli("run", "example", "--project", "Swarm", "--on", "swarm")
    assert ran.stdout.strip() == "[1, 2, 3, 4, 5]"
    assert "Swarm job flowimg-run-" in ran.stderr and f"{image_name}@sha256:" in ran.stderr
    assert "Running flow 'example'" in ran.stderr
    assert leftovers() == []


def test_a_failing_flow_fails_the_run(cli, tmp_path, image_name):
    script = docker_flow(tmp_path, image_name, printed="1 / 0")
    cli("register", "-p", str(script), "--project", "Swarm", "--pin")
    ran = cli("run", "example", "--project", "Swarm", "--on", "swarm", ok=False)
    assert ran.returncode == 1
    assert "ZeroDivisionError" in ran.stderr and "Traceback" not in ran.stderr.split("Running flow")[0]
    assert leftovers() == []


def test_the_task_exit_code_and_node_come_back():
    launch = Launch(image=BASE_IMAGE, entrypoint=["python3"], network="host", name=f"flowimg-run-{uuid.uuid4().hex[:12]}",
                    command=["-c", "import sys; print('out'); sys.stderr.write('err\\n'); sys.exit(3)"])
    shown, logged = [], []
    outcome = get_target("swarm").launch(launch, log=logged.append, out=shown.append)
    assert outcome.exit_code == 3
    assert outcome.node == docker("info", "--format", "{{.Name}}").stdout.strip()
    assert shown == ["out"] and logged[-1] == "err" and set(outcome.log_tail) == {"out", "err"}
    assert leftovers(launch.name) == []


def test_secrets_reach_the_flow_as_a_swarm_secret_and_never_show(cli, tmp_path, image_name):
    """The flow prints the secret it got: the output shows it redacted; the service spec never holds it."""
    script = docker_flow(tmp_path, image_name, imports="import os, time",
                         printed="time.sleep(2) or os.environ['FLOWIMG_TEST_TOKEN']")
    image = cli("build", "-p", str(script)).stdout.strip()
    by_digest = docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", image).stdout.strip()
    launch = Launch(image=by_digest, command=["example"], network="host", name=f"flowimg-run-{uuid.uuid4().hex[:12]}",
                    secrets={"FLOWIMG_TEST_TOKEN": SECRET})
    shown, logged, outcomes = [], [], []
    runner = threading.Thread(target=lambda: outcomes.append(
        get_target("swarm").launch(launch, log=logged.append, out=shown.append)))
    runner.start()
    during = wait_for_service(launch.name)
    secrets_during = docker("secret", "ls", "--filter", f"name={launch.name}").stdout
    tasks_during = docker("service", "ps", "--no-trunc", launch.name).stdout
    runner.join(120)
    assert outcomes and outcomes[0].exit_code == 0, logged
    assert shown == ["***"]
    assert f"{launch.name}-secret-0" in secrets_during and "FLOWIMG_TEST_TOKEN" in during
    for text in (during, secrets_during, tasks_during, "\n".join(logged)):
        assert SECRET not in text
    assert docker("service", "inspect", launch.name, check=False).returncode != 0
    assert leftovers(launch.name) == []


def test_cancel_removes_the_job_and_the_run_reports_it():
    launch = Launch(image=BASE_IMAGE, entrypoint=["python3"], network="host", name=f"flowimg-run-{uuid.uuid4().hex[:12]}",
                    command=["-c", "import time; time.sleep(60)"])
    target, outcomes = get_target("swarm"), []
    runner = threading.Thread(target=lambda: outcomes.append(target.launch(launch, log=print, out=print)))
    runner.start()
    wait_for_service(launch.name)
    assert target.cancel(launch.name) is True
    runner.join(60)
    assert outcomes[0].exit_code == CANCELLED_EXIT
    assert target.cancel(launch.name) is False
    assert leftovers(launch.name) == []


def test_ctrl_c_removes_the_job(cli, tmp_path, image_name):
    script = docker_flow(tmp_path, image_name, imports="import time", printed="time.sleep(60)")
    cli("register", "-p", str(script), "--project", "Swarm", "--pin")
    before = set(docker("service", "ls", "-q").stdout.split())
    proc = subprocess.Popen([FLOWIMG, "run", "example", "--project", "Swarm", "--on", "swarm"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not set(docker("service", "ls", "-q").stdout.split()) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert leftovers() == []


@pytest.mark.parametrize("args, message", [
    (["--on", "nomad"], "unknown target 'nomad'; use one of: docker, swarm"),
    (["--on", "swarm"], "flow 'example' has no image to run on swarm: its storage is Local"),
    (["--on", "swarm", "--network", "none"], "--network none is not possible on swarm; use host, or run with --on docker"),
    (["--network", "bridge"], "--network bridge is not possible on docker; use none or host"),
])
def test_bad_input(cli, tmp_path, args, message):
    (tmp_path / "f.py").write_text(seed_flow())
    cli("register", "-p", "f.py", "--project", "P")
    line = one_line_error(cli("run", "example", "--project", "P", *args, ok=False))
    assert message in line
    assert leftovers() == []


@pytest.fixture
def paused_node():
    """The swarm's one node taking no new tasks, as a drained or paused node does; the test calls the
    function given to make it active again (and the fixture does, if the test did not)."""
    node = docker("node", "ls", "-q", "--filter", "role=manager").stdout.split()[0]
    docker("node", "update", "--availability", "pause", node)
    resume = lambda: docker("node", "update", "--availability", "active", node)  # noqa: E731
    try:
        yield resume
    finally:
        resume()


def test_a_job_no_node_can_take_is_one_error_and_never_runs_later(paused_node, monkeypatch):
    """After the pending timeout the run fails in one line, and when the node comes back the removed job
    does not start after all (Swarm would start a removed job's pending task: flowimg fences it first)."""
    monkeypatch.setenv("FLOWIMG_SWARM_PENDING_TIMEOUT", "3")
    launch = Launch(image=BASE_IMAGE, entrypoint=["python3"], network="host", command=["-c", "print(1)"],
                    name=f"flowimg-run-{uuid.uuid4().hex[:12]}")
    started = time.monotonic()
    with pytest.raises(FlowimgError) as raised:
        get_target("swarm").launch(launch, log=lambda _: None, out=lambda _: None)
    message = str(raised.value)
    assert message.startswith(f"no Swarm node took the job {launch.name} within 3 s: no suitable node")
    assert "not available for new tasks" in message and message.endswith("or raise FLOWIMG_SWARM_PENDING_TIMEOUT (seconds)")
    assert 3 <= time.monotonic() - started < 30
    paused_node()
    time.sleep(5)  # a started task would show as a container within a second or two
    assert docker("ps", "-aq", "--filter", f"name={launch.name}").stdout.split() == []
    assert leftovers() == []


def test_a_cancelled_pending_job_never_runs_later(paused_node):
    launch = Launch(image=BASE_IMAGE, entrypoint=["python3"], network="host", command=["-c", "print(1)"],
                    name=f"flowimg-run-{uuid.uuid4().hex[:12]}")
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(done=get_target("swarm").launch(
        launch, log=lambda _: None, out=lambda _: None)))
    runner.start()
    wait_for_service(launch.name)
    time.sleep(1)  # pending by now
    assert get_target("swarm").cancel(launch.name) is True
    runner.join(60)
    assert outcome["done"].exit_code == CANCELLED_EXIT
    paused_node()
    time.sleep(5)
    assert docker("ps", "-aq", "--filter", f"name={launch.name}").stdout.split() == []
    assert leftovers() == []


def test_a_bad_pending_timeout_is_refused_before_any_job(monkeypatch):
    monkeypatch.setenv("FLOWIMG_SWARM_PENDING_TIMEOUT", "soon")
    launch = Launch(image=BASE_IMAGE, entrypoint=["python3"], network="host", command=["-c", "print(1)"],
                    name=f"flowimg-run-{uuid.uuid4().hex[:12]}")
    with pytest.raises(FlowimgError, match=r"^FLOWIMG_SWARM_PENDING_TIMEOUT='soon' must be a number of seconds above 0"):
        get_target("swarm").launch(launch, log=lambda _: None, out=lambda _: None)
    assert leftovers() == []


def test_an_engine_outside_a_swarm_names_the_fix():
    with pytest.raises(FlowimgError, match=r"not in a swarm; run `docker swarm init --advertise-addr 127.0.0.1`"):
        _require_manager({"Name": "vm", "Swarm": {"LocalNodeState": "inactive"}})
    with pytest.raises(FlowimgError, match="a swarm worker, not a manager"):
        _require_manager({"Name": "vm", "Swarm": {"LocalNodeState": "active", "ControlAvailable": False}})


def test_an_agent_on_swarm_runs_a_due_run_as_a_job_and_records_it(cli, tmp_path, image_name):
    from flowimg.backend import open_backend
    from flowimg.backend.runs import now_iso

    script = docker_flow(tmp_path, image_name)
    cli("register", "-p", str(script), "--project", "Swarm", "--pin")
    with open_backend(None) as db:
        due = db.create_run(db.get("Swarm", "example"), parameters={}, state="Scheduled", scheduled_time=now_iso())
    agent = cli("agent", "--on", "swarm", "--once", "--poll", "1", "--heartbeat", "0.5")
    assert "1 Success" in agent.stderr, agent.stderr
    with open_backend(None) as db:
        done = db.get_run(due.id)
    assert (done.state, done.exit_code) == ("Success", 0)
    assert "[1, 2, 3, 4, 5]" in done.log_tail and f"{image_name}@sha256:" in done.image
    assert leftovers() == []
