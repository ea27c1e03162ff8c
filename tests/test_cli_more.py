"""More of the CLI as a user meets it: plan, modules, shared storages, build errors, backend errors."""
from __future__ import annotations

import textwrap

import pytest

from cli_helpers import one_line_error, seed_flow
from docker_service import BASE_IMAGE, REGISTRY, docker


def test_plan_shows_dockerfile_context_and_image_without_building(cli, tmp_path):
    script = tmp_path / "f.py"
    script.write_text(seed_flow(imports="from flowimg.storage import Docker", storage=(
        f"flow.storage = Docker(path='/opt/flows/f.py', files={{{str(script)!r}: '/opt/flows/f.py'}}, "
        "stored_as_script=True, registry_url='registry.example:5000', image_name='team/flows', base_image='base:1')\n")))
    out = cli("plan", "-p", str(script), "--tag", "v7").stdout
    assert "# image: registry.example:5000/team/flows:v7" in out
    assert "FROM base:1" in out and "COPY code/ /" in out
    assert "  code/opt/flows/f.py" in out and "  code/opt/flowimg/manifest.json" in out


def test_register_from_a_module(cli, tmp_path):
    (tmp_path / "my_flows.py").write_text(seed_flow(name="from-module"))
    result = cli("register", "-m", "my_flows", "--project", "P", env={"PYTHONPATH": str(tmp_path)}, ok=False)
    assert result.returncode == 1 and "Processing 'my_flows':" in result.stdout
    assert "Error" in result.stdout and "needs flow.storage" in result.stdout
    (tmp_path / "my_flows.py").write_text(seed_flow(name="from-module", imports="from flowimg.storage import Local",
                                                    storage=f"flow.storage = Local(path={str(tmp_path / 'my_flows.py')!r}, stored_as_script=True)\n"))
    assert "Registering 'from-module'... Done" in cli("register", "-m", "my_flows", "--project", "P",
                                                        env={"PYTHONPATH": str(tmp_path)}).stdout
    assert cli("run", "from-module", "--project", "P").stdout.strip() == "[1, 2, 3, 4, 5]"


def test_a_storage_shared_by_flows_is_built_once(cli, tmp_path, image_name):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "common.py").write_text(textwrap.dedent(f"""
        import os
        from flowimg.storage import Docker
        storage = Docker(files={{os.path.dirname(os.path.abspath(__file__)): "/opt/flows"}}, stored_as_script=True,
                         registry_url={REGISTRY!r}, image_name={image_name!r}, base_image={BASE_IMAGE!r})
    """))
    for name in ("one", "two", "three"):
        (flows / f"{name}.py").write_text(seed_flow(name=name, imports="from common import storage",
                                                    storage="flow.storage = storage\n"))
    result = cli("register", "-p", str(flows), "--project", "Shared", "--no-push")
    assert result.stdout.count("Building `Docker` storage...") == 1
    assert "3 registered" in result.stdout
    assert cli("run", "two", "--project", "Shared").stdout.strip() == "[1, 2, 3, 4, 5]"


@pytest.mark.usefixtures("no_new_containers")
@pytest.mark.parametrize("buildkit, step, exit_code", [
    ("0", "image build failed at Step ", "returned a non-zero code: 1"),
    ("1", "image build failed at [2/4] RUN echo preparing-step && false: executor failed running", "exit code: 1"),
])
def test_a_failing_build_step_is_one_error_with_its_last_lines(cli, tmp_path, image_name, buildkit, step, exit_code):
    script = tmp_path / "f.py"
    script.write_text(seed_flow(imports="from flowimg.storage import Docker", storage=(
        f"flow.storage = Docker(path='/opt/f.py', files={{{str(script)!r}: '/opt/f.py'}}, stored_as_script=True, "
        f"image_name={image_name!r}, base_image={BASE_IMAGE!r}, "
        "extra_dockerfile_commands=['RUN echo preparing-step && false'])\n")))
    line = one_line_error(cli("build", "-p", str(script), ok=False, env={"FLOWIMG_BUILDKIT": buildkit}))
    assert step in line and "RUN echo preparing-step && false" in line
    assert exit_code in line and "preparing-step" in line.split("last output:")[-1]
    assert docker("image", "inspect", f"{image_name}:latest", check=False).returncode != 0


def test_unreachable_postgresql_is_one_line_without_the_password(cli):
    url = "postgresql://flow:hunter2-secret@127.0.0.1:1/registry"
    result = cli("flows", "list", "--backend", url, ok=False)
    line = one_line_error(result)
    assert "127.0.0.1:1" in line and "hunter2-secret" not in result.stdout + result.stderr


def test_unknown_backend_url_names_the_accepted_forms(cli):
    line = one_line_error(cli("project", "list", "--backend", "mysql://x/y", ok=False))
    assert "postgresql://" in line and "sqlite:///" in line


def test_debug_shows_the_traceback(cli, tmp_path):
    result = cli("--debug", "register", "-p", "missing.py", "--project", "P", ok=False)
    assert "Traceback" in result.stderr and "Error: path 'missing.py' does not exist" in result.stderr


@pytest.mark.parametrize("files, message", [
    ("{'flows/f.py': '/opt/f.py'}", "files source 'flows/f.py' is relative"),
    ("{SCRIPT: '/opt/flowimg/f.py'}", "inside /opt/flowimg"),
    ("{SCRIPT: '/'}", "onto /"),
    ("{SCRIPT: '/opt/f.py', SCRIPT + '.copy': '/opt/f.py'}", "give each its own destination"),
    ("{SCRIPT: 'opt/f.py\\nRUN id'}", "is not a path"),
])
def test_bad_files_mappings_stop_before_the_engine(cli, tmp_path, files, message):
    script = tmp_path / "f.py"
    (tmp_path / "f.py.copy").write_text("")
    script.write_text(f"SCRIPT = {str(script)!r}\n" + seed_flow(imports="from flowimg.storage import Docker", storage=(
        f"flow.storage = Docker(path='/opt/f.py', files={files}, stored_as_script=True, base_image='base:1')\n")))
    assert message in one_line_error(cli("build", "-p", str(script), ok=False))


def test_script_docker_storage_without_a_path_names_the_line(cli, tmp_path):
    script = tmp_path / "f.py"
    script.write_text(seed_flow(imports="from flowimg.storage import Docker",
                                storage="flow.storage = Docker(stored_as_script=True)\n"))
    line = one_line_error(cli("build", "-p", str(script), ok=False))
    assert f"{script}:" in line and "stored_as_script=True needs path=" in line


def test_a_missing_bucket_registers_nothing(cli, tmp_path, s3_endpoint, aws_env):
    script = tmp_path / "s3_flow.py"
    script.write_text(seed_flow(imports="from flowimg.storage import S3", storage=(
        f"flow.storage = S3(bucket='no-such-bucket-4711', stored_as_script=True, "
        f"client_options={{'endpoint_url': {s3_endpoint!r}, 'region_name': 'us-east-1'}})\n")))
    result = cli("register", "-p", str(script), "--project", "P", ok=False)
    assert result.returncode == 1 and "no-such-bucket-4711" in result.stdout and "1 errored" in result.stdout
    assert "No flows registered." in cli("flows", "list").stdout
