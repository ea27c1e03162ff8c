"""Usage errors through the installed console script: typer's usage line and exit 2, never a traceback,
with whichever typer `pip install` resolves (0.2x no longer brings click)."""
from __future__ import annotations

from importlib import metadata

import pytest


@pytest.mark.parametrize("args, usage, error", [
    ((), "Usage: flowimg [OPTIONS] COMMAND [ARGS]...", None),
    (("run",), "Usage: flowimg run [OPTIONS]", "Error: Missing argument 'FLOW'."),
    (("no-such-command",), "Usage: flowimg [OPTIONS] COMMAND [ARGS]...", "Error: No such command 'no-such-command'."),
    (("build", "--no-such-option"), "Usage: flowimg build [OPTIONS]", "Error: No such option: --no-such-option"),
    (("flows",), "Usage: flowimg flows [OPTIONS] COMMAND [ARGS]...", None),
    (("run", "f", "--project", "P", "--version", "abc"), "Usage: flowimg run [OPTIONS]", "Error: Invalid value for '--version'"),
])
def test_usage_errors_print_the_usage_line_and_exit_2(cli, tmp_path, args, usage, error):
    env = {}
    if not any(r.startswith("click") for r in metadata.requires("typer") or []):
        # click is here only as a test dependency (of moto): hide it, as on a fresh `pip install flowimg`.
        (tmp_path / "no-click" / "click").mkdir(parents=True)
        (tmp_path / "no-click" / "click" / "__init__.py").write_text("raise ImportError('click is not installed')\n")
        env["PYTHONPATH"] = str(tmp_path / "no-click")
    result = cli(*args, ok=False, env=env)
    assert result.returncode == 2, result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "ModuleNotFoundError" not in output
    assert output.lstrip().startswith(usage), output
    if error:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and errors[0].startswith(error), result.stderr


def test_flowimg_errors_stay_one_line_with_exit_1(cli):
    result = cli("build", ok=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: say where the flows are: -p FILE|DIR|GLOB or -m MODULE"


def test_the_cli_imports_no_click():
    """typer 0.2x vendors click: importing it directly would fail on a fresh install."""
    import ast
    from pathlib import Path

    import flowimg

    package = Path(flowimg.__file__).parent
    imported = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert "click" not in imported and "rich" not in imported
