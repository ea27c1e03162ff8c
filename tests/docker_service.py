"""The real Docker engine, registry and base images that scripts/services.sh starts (make test runs it)."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

REGISTRY = os.environ.get("FLOWIMG_TEST_REGISTRY", "localhost:5000")
BASE_IMAGE = os.environ.get("FLOWIMG_BASE_IMAGE", "flowimg/python-base:bookworm")
PIP_BASE_IMAGE = os.environ.get("FLOWIMG_PIP_BASE_IMAGE", "flowimg/python-pip:bookworm")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="session")
def engine():
    """Fails (never skips) when the engine is missing: CI must start it first."""
    probe = docker("info", check=False)
    if probe.returncode != 0:
        pytest.fail("no Docker engine answers; run `bash scripts/services.sh start` (make test does)")
    for image in (BASE_IMAGE, PIP_BASE_IMAGE):
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.fail(f"base image {image} is missing; run `bash scripts/services.sh start`")
    made: list = []
    yield made
    for ref in made:
        docker("image", "rm", "-f", ref, check=False)


@pytest.fixture
def image_name(engine):
    """A unique repository name per test; the image is removed at the end of the session."""
    name = f"flowimg-test-{uuid.uuid4().hex[:10]}"
    engine.extend([f"{REGISTRY}/{name}:latest", f"{name}:latest"])
    return name


@pytest.fixture
def no_new_containers(engine):
    """Nothing a test does may leave a container behind, failed runs included."""
    before = set(docker("ps", "-aq").stdout.split())
    yield
    after = set(docker("ps", "-aq").stdout.split())
    assert after - before == set(), "a container was left behind"


def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


@pytest.fixture(scope="session")
def swarm(engine):
    """A single-node swarm on loopback for the session: no ingress network, left again afterwards with its
    bridge removed. An engine already in a swarm is used as it is and left in it."""
    if swarm_state() == "active":
        yield
        return
    docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
    try:
        subprocess.run([DOCKER, "network", "rm", "ingress"], input="y\n", capture_output=True, text=True)
        yield
    finally:
        docker("swarm", "leave", "--force", check=False)
        docker("network", "rm", "docker_gwbridge", check=False)
