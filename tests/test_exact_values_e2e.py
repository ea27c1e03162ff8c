"""What the user wrote is what the image holds, read back from real containers; and registrations
do not depend on where the project is checked out."""
from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import pytest

from docker_service import BASE_IMAGE, DOCKER, PIP_BASE_IMAGE, REGISTRY, docker
from test_docker_e2e import make_wheel
from test_dockerfile_values import TRICKY_ENV

pytestmark = pytest.mark.usefixtures("no_new_containers")

PINNED = ["tinydep>=1,<3", "otherdep==2.0", "thirddep~=1.4",
          "markerdep; python_version >= \"3.8\" and sys_platform != 'win32'", "neverdep; sys_platform == 'win32'"]
EXPECTED_VERSIONS = {"tinydep": "1.5", "otherdep": "2.0", "thirddep": "1.4.2", "markerdep": "0.1", "neverdep": None}
READ_BACK = (
    "import json, os, sys\n"
    "from importlib import metadata\n"
    "def version(name):\n"
    "    try:\n"
    "        return metadata.version(name)\n"
    "    except metadata.PackageNotFoundError:\n"
    "        return None\n"
    "names = json.loads(sys.argv[1])\n"
    "print(json.dumps({'env': {n: os.environb.get(n.encode(), b'<unset>').hex() for n in names['env']},"
    " 'versions': {n: version(n) for n in names['dists']}}))\n"
)


def in_container(ref: str, *command: str) -> subprocess.CompletedProcess:
    """Bytes out of a container started from the image, with its own entrypoint replaced."""
    return subprocess.run([DOCKER, "run", "--rm", "--network", "none", "--entrypoint", command[0], ref, *command[1:]],
                          capture_output=True, check=True)


def test_pinned_dependencies_and_tricky_env_values_arrive_exactly(cli, tmp_path, image_name):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name, versions in {"tinydep": ["0.9", "1.5", "3.0"], "otherdep": ["2.0", "2.1"],
                           "thirddep": ["1.3", "1.4.2", "2.0"], "markerdep": ["0.1"]}.items():
        for version in versions:
            make_wheel(wheels, name, version)
    script = tmp_path / "pinned.py"
    script.write_text(textwrap.dedent(f"""
        from flowimg import task, Flow
        from flowimg.storage import Docker

        @task
        def hello():
            print("pinned")

        with Flow("pinned") as flow:
            hello()

        flow.storage = Docker(
            path="/opt/flows/it's $HOME/pinned.py", files={{__file__: "/opt/flows/it's $HOME/pinned.py"}},
            stored_as_script=True, registry_url={REGISTRY!r}, image_name={image_name!r},
            base_image={PIP_BASE_IMAGE!r}, wheelhouse={str(wheels)!r},
            python_dependencies={PINNED!r}, env_vars={TRICKY_ENV!r},
        )
    """))
    cli("build", "-p", str(script), "--no-push")
    ref = f"{REGISTRY}/{image_name}:latest"
    asked = json.dumps({"env": sorted(TRICKY_ENV), "dists": sorted(EXPECTED_VERSIONS)})
    found = json.loads(in_container(ref, "python3", "-c", READ_BACK, asked).stdout)
    assert {n: bytes.fromhex(v) for n, v in found["env"].items()} == {n: v.encode() for n, v in TRICKY_ENV.items()}
    assert found["versions"] == EXPECTED_VERSIONS
    ran = subprocess.run([DOCKER, "run", "--rm", "--network", "none", ref], capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout.strip() == "pinned", ran.stderr

    label = json.loads(docker("image", "inspect", ref, "--format", "{{json .Config.Labels}}").stdout)["io.flowimg.manifest"]
    baked = in_container(ref, "cat", "/opt/flowimg/manifest.json").stdout
    assert label.encode() == baked
    settings = json.loads(baked)["flows"]["pinned"]["storage"]["settings"]
    assert settings["env_vars"] == TRICKY_ENV and "\\" in label and "$" in label and "'" in label


SEED_SNIPPET = '''
flow.storage = Docker(
    path="my_flow.py",
    files={{{source!r}: "my_flow.py"}},
    stored_as_script=True,
    image_name={image_name!r},
    base_image={base!r},
)
'''


def seed_script(tmp_path, image_name, base=BASE_IMAGE):
    from cli_helpers import seed_flow

    script = tmp_path / "my_flow.py"
    storage = SEED_SNIPPET.format(source=str(script), image_name=image_name, base=base)
    script.write_text(seed_flow(imports="from flowimg.storage import Docker", storage=storage))
    return script


def test_the_seed_docker_snippet_with_relative_paths_lands_under_the_workdir(cli, tmp_path, image_name):
    script = seed_script(tmp_path, image_name)
    plan = cli("plan", "-p", str(script)).stdout
    assert "code/my_flow.py" in plan.splitlines()[-1] or "  code/my_flow.py" in plan
    assert "# flow example: /my_flow.py" in plan
    built = cli("build", "-p", str(script))
    assert built.stdout.strip() == f"{image_name}:latest"
    assert "ok: flow 'example' loads from /my_flow.py" in built.stderr
    ran = subprocess.run([DOCKER, "run", "--rm", "--network", "none", f"{image_name}:latest"], capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout.strip() == "[1, 2, 3, 4, 5]", ran.stderr
    assert json.loads(cli("inspect", f"{image_name}:latest").stdout)["flows"]["example"]["path"] == "/my_flow.py"


def test_relative_paths_follow_the_base_images_workdir(cli, tmp_path, image_name, engine):
    base = f"{image_name}-base:1"
    engine.append(base)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nWORKDIR /app/work\n")
    docker("build", "-q", "--network", "none", "-t", base, str(tmp_path / "base"))
    script = seed_script(tmp_path, image_name, base=base)
    assert "# flow example: /app/work/my_flow.py" in cli("plan", "-p", str(script)).stdout
    cli("build", "-p", str(script))
    ran = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "-w", "/tmp", f"{image_name}:latest"],
                         capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout.strip() == "[1, 2, 3, 4, 5]", ran.stderr
    listed = in_container(f"{image_name}:latest", "ls", "/app/work").stdout.decode().split()
    assert listed == ["my_flow.py"]


PROJECT_FLOW = '''
import os
from flowimg import task, Flow
from flowimg.storage import Docker

HERE = os.path.dirname(os.path.abspath(__file__))

@task
def greet():
    import tinydep
    print(tinydep.greet())

with Flow("checkout") as flow:
    greet()

flow.storage = Docker(
    path="/opt/flows/flow.py",
    files={{os.path.join(HERE, "flow.py"): "/opt/flows/flow.py", os.path.join(HERE, "helpers"): "/opt/flows/helpers"}},
    stored_as_script=True,
    registry_url={registry!r},
    image_name={image_name!r},
    python_dependencies=["tinydep>=1,<2"],
)
'''


def test_one_flow_registered_from_two_checkouts_is_one_version(cli, tmp_path, image_name):
    project = tmp_path / "project"
    (project / "flows" / "helpers").mkdir(parents=True)
    (project / "flows" / "helpers" / "util.py").write_text("X = 1\n")
    (project / "wheels").mkdir()
    make_wheel(project / "wheels", "tinydep", "1.0")
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (project / "flowimg.yaml").write_text(
        f"docker:\n  wheelhouse: wheels\n  dockerfile: Dockerfile.j2\n  base_image: {PIP_BASE_IMAGE}\n")
    (project / "Dockerfile.j2").write_text(
        '{% extends "Dockerfile.j2" %}{% block extra_commands %}RUN echo team-layer{% endblock %}')
    (project / "flows" / "flow.py").write_text(PROJECT_FLOW.format(registry=REGISTRY, image_name=image_name))
    first, second = tmp_path / "alice" / "checkout", tmp_path / "ci" / "build" / "checkout"
    shutil.copytree(project, first)
    shutil.copytree(project, second)

    one = cli("register", "-p", str(first / "flows" / "flow.py"), "--project", "P", "--no-push")
    assert "Registering 'checkout'... Done" in one.stdout and "Version: 1" in one.stdout
    two = cli("register", "-p", str(second / "flows" / "flow.py"), "--project", "P", "--no-push")
    assert "Registering 'checkout'... Skipped (metadata unchanged)" in two.stdout, two.stdout

    shown = cli("flows", "show", "checkout", "--project", "P").stdout
    assert "version 1" in shown and "version 2" not in shown
    from flowimg.backend import open_backend

    with open_backend(None) as db:
        stored = json.dumps(db.get("P", "checkout").storage)
    assert str(tmp_path) not in stored
    (second / "Dockerfile.j2").write_text(
        '{% extends "Dockerfile.j2" %}{% block extra_commands %}RUN echo other-layer{% endblock %}')
    three = cli("register", "-p", str(second / "flows" / "flow.py"), "--project", "P", "--no-push")
    assert "Version: 2" in three.stdout, three.stdout


def test_a_flow_registered_by_flowimg_0_1_is_not_reversioned_by_the_upgrade(cli, tmp_path, image_name):
    """The registration flowimg 0.1 made (local paths in the settings) still counts as unchanged."""
    from cli_helpers import seed_flow
    from flowimg.backend import open_backend
    from flowimg.backend.base import metadata_hash
    from flowimg.loading import load_script

    script = tmp_path / "my_flow.py"
    storage = (f"flow.storage = Docker(path='/opt/flows/my_flow.py', files={{{str(script)!r}: '/opt/flows/my_flow.py'}},\n"
               f"    stored_as_script=True, registry_url={REGISTRY!r}, image_name={image_name!r}, base_image={BASE_IMAGE!r})\n")
    script.write_text(seed_flow(imports="from flowimg.storage import Docker", storage=storage))
    flow = load_script(str(script))["example"]
    old_storage = {"kind": "Docker", "stored_as_script": True, "flows": {"example": "/opt/flows/my_flow.py"}, "settings": {
        "path": "/opt/flows/my_flow.py", "files": {str(script): "/opt/flows/my_flow.py"}, "registry_url": REGISTRY,
        "image_name": image_name, "image_tag": "latest", "base_image": BASE_IMAGE, "python_dependencies": [],
        "env_vars": {}, "extra_dockerfile_commands": [], "dockerfile": None, "build_kwargs": {},
        "ignore_healthchecks": False, "wheelhouse": None}}
    with open_backend(None) as db:
        db.create_project("P")
        db.register("P", "example", structure=flow.structure(), structure_hash=flow.structure_hash(), storage=old_storage,
                    labels=[], parameters={}, metadata_hash=metadata_hash(flow.structure_hash(), old_storage, [], {}),
                    source=str(script))
    again = cli("register", "-p", str(script), "--project", "P", "--no-push")
    assert "Registering 'example'... Skipped (metadata unchanged)" in again.stdout, again.stdout
    ran = cli("run", "example", "--project", "P")
    assert ran.stdout.strip() == "[1, 2, 3, 4, 5]", ran.stderr
    changed = cli("register", "-p", str(script), "--project", "P", "--no-push", "-l", "new-label")
    assert "Version: 2" in changed.stdout, changed.stdout
