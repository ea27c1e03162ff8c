"""The wheel: a plain (non-editable) install finds its templates; the in-image code parses as Python 3.8."""
from __future__ import annotations

import ast
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import flowimg
from cli_helpers import seed_flow

ROOT = Path(__file__).resolve().parent.parent
IN_IMAGE = ["__init__.py", "errors.py", "flow.py", "loading.py", "manifest.py", "runtime.py", "secrets.py",
            "home.py", "storage"]


@pytest.mark.services  # builds and installs a real wheel: about a minute, so not in the unit tier
def test_wheel_installs_into_a_fresh_venv_and_finds_its_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("flowimg-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "flowimg/templates/Dockerfile.j2" in names and "flowimg/runtime.py" in names
    source = {p.relative_to(ROOT / "builder").with_suffix("").as_posix() + ".py"
              for p in (ROOT / "builder" / "flowimg").rglob("*.py") if "__pycache__" not in p.parts}
    assert source - set(names) == set(), "a module of the source tree is missing from the wheel (pyproject packages)"
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    # Dependencies come from this test environment's site-packages; flowimg itself only from the wheel.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    script = tmp_path / "f.py"
    script.write_text(seed_flow(imports="from flowimg.storage import Docker",
                                storage=f"flow.storage = Docker(path='/opt/f.py', files={{{str(script)!r}: '/opt/f.py'}}, "
                                        "stored_as_script=True, base_image='base:1')\n"))
    plan = subprocess.run([str(target / "bin" / "flowimg"), "plan", "-p", str(script)], capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr
    assert "FROM base:1" in plan.stdout and "code/opt/f.py" in plan.stdout
    where = subprocess.run([str(python), "-c", "import flowimg; print(flowimg.__file__)"], capture_output=True, text=True)
    assert where.stdout.startswith(str(target))


def test_the_code_that_runs_in_images_parses_as_python_38():
    package = Path(flowimg.__file__).parent
    files = [p for name in IN_IMAGE for p in ([package / name] if name.endswith(".py") else (package / name).glob("*.py"))]
    assert len(files) > 10
    for path in files:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))
        assert "from __future__ import annotations" in path.read_text(), path


def test_the_runtime_runs_a_flow_on_the_oldest_python_here(tmp_path):
    """On Python 3.8, the oldest the images support; skipped, saying so, where there is none."""
    oldest = sorted(Path("/root/.pyenv/versions").glob("3.8*/bin/python3"))
    if not oldest:
        pytest.skip("no Python 3.8 on this machine (looked in /root/.pyenv/versions/3.8*)")
    script = tmp_path / "f.py"
    script.write_text(seed_flow(printed="'old python', data"))
    storage = '{"kind": "Local", "stored_as_script": true, "settings": {"path": "%s"}, "flows": {"example": "%s"}}' % (script, script)
    result = subprocess.run([str(oldest[0]), "-m", "flowimg.runtime", "example", "--storage-json", storage],
                            capture_output=True, text=True, env={"PYTHONPATH": str(Path(flowimg.__file__).parent.parent),
                                                                 "FLOWIMG_MANIFEST": str(tmp_path / "none.json")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "old python [1, 2, 3, 4, 5]"
