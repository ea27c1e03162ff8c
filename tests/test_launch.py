"""The lean launcher: `build` and `plan` without typer, the same calls as through typer, typer for the rest."""
import inspect
import os
import subprocess
import sys

import pytest
import typer.main

from flowimg import build_commands, cli
from flowimg.launch import LEAN, MANY, ONE, lean_command

from cli_helpers import FLOWIMG


@pytest.mark.parametrize("command", sorted(LEAN))
def test_the_lean_table_is_the_typer_command(command):
    """Every option of the typer command, spelled, repeated, flagged and defaulted the same; no env vars."""
    params = typer.main.get_command(cli.app).commands[command].params
    expected = {}
    for param in params:
        assert not param.envvar, f"{command} --{param.name} reads an env var the lean parser would miss"
        if param.multiple:
            kinds = {opt: (param.name, MANY) for opt in param.opts}
        elif param.is_flag:
            kinds = {**{opt: (param.name, True) for opt in param.opts},
                     **{opt: (param.name, False) for opt in param.secondary_opts}}
        else:
            kinds = {opt: (param.name, ONE) for opt in param.opts}
        expected.update(kinds)
    assert LEAN[command] == expected
    body = inspect.signature(getattr(build_commands, command)).parameters
    assert list(body) == [p.name for p in params]
    defaults = {name: p.default for name, p in body.items() if p.default is not inspect.Parameter.empty}
    assert defaults == {p.name: p.default for p in params if p.name in defaults}
    assert set(body) - set(defaults) == {p.name for p in params if p.multiple}


@pytest.mark.parametrize("argv", [
    ["build", "-p", "a.py", "--path", "b.py", "--no-push", "--tag=v1", "--builder", "registry", "-n", "x"],
    ["build", "-p", "a.py", "--push", "--load", "--output", "out", "--platform", "linux/amd64,linux/arm64",
     "--registry-username", "me", "--password-stdin", "--tag", "a", "--tag", "b"],
    ["plan", "--path=a.py", "--tag", "t", "--platform", "linux/arm64"],
    ["build"],
])
def test_lean_and_typer_make_the_same_call(argv, monkeypatch):
    calls = []
    original = getattr(build_commands, argv[0])
    monkeypatch.setattr(build_commands, argv[0], _recorder(original, calls))
    cli.app(argv, standalone_mode=False)
    command, kwargs = lean_command(argv)
    _recorder(original, calls)(**kwargs)
    assert command == argv[0]
    assert calls[0] == calls[1]


def _recorder(function, calls):
    def record(*args, **kwargs):
        bound = inspect.signature(function).bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))
    return record


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["--debug", "build", "-p", "a.py"], ["build", "--help"], ["build", "-p"],
    ["build", "-p", "--tag", "x"], ["build", "-x"], ["build", "a.py"], ["build", "--push=yes"],
    ["build", "-pa.py"], ["build", "-p=a.py"], ["build", "--", "-p"], ["plan", "--load"], ["register", "-p", "a.py"],
])
def test_anything_unsure_goes_to_typer(argv):
    assert lean_command(argv) is None


def test_typer_still_answers_help_and_usage_errors(tmp_path):
    helped = subprocess.run([FLOWIMG, "build", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "--no-push" in helped.stdout
    wrong = subprocess.run([FLOWIMG, "build", "--bogus"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "No such option: --bogus" in wrong.stderr


def test_a_lean_error_is_one_line_and_imports_no_typer(tmp_path):
    probe = ("import sys\nsys.argv = ['flowimg', 'build', '-p', 'missing.py']\nfrom flowimg.launch import main\n"
             "try:\n    main()\nexcept SystemExit as exc:\n    print(exc.code, 'typer' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "FLOWIMG_HOME": str(tmp_path / "home")}, timeout=60)
    assert result.stdout.split() == ["1", "False"]
    assert result.stderr.strip().splitlines() == [
        "Error: path 'missing.py' does not exist; give a flow file, a folder or a glob"]


# -- help pages ----------------------------------------------------------------------------------------------
HELP_PROBE = ("import sys\nsys.argv = ['flowimg'] + sys.argv[1:]\nfrom flowimg.launch import main\n"
              "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
              "print('exit', code, 'typer' in sys.modules, file=sys.stderr)\n")


def help_request(home, *argv, columns="80"):
    return subprocess.run([sys.executable, "-c", HELP_PROBE, *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "FLOWIMG_HOME": str(home), "COLUMNS": columns})


@pytest.mark.parametrize("argv", [["--help"], ["build", "--help"], ["runs", "list", "--help"]])
def test_a_help_page_typer_printed_is_printed_again_without_typer(tmp_path, argv):
    first = help_request(tmp_path / "home", *argv)
    assert first.stderr.splitlines()[-1] == "exit 0 True" and first.stdout.startswith("Usage: flowimg ")
    second = help_request(tmp_path / "home", *argv)
    assert second.stderr.splitlines()[-1] == "exit 0 False"
    assert second.stdout == first.stdout
    wide = help_request(tmp_path / "home", *argv, columns="60")  # another width is another page, from typer
    assert wide.stderr.splitlines()[-1] == "exit 0 True"
    assert wide.stdout == help_request(tmp_path / "other", *argv, columns="60").stdout != first.stdout


def test_a_usage_error_is_never_kept_and_a_damaged_page_is_not_printed(tmp_path):
    for _ in range(2):
        wrong = help_request(tmp_path / "home", "nosuch", "--help")
        assert wrong.stderr.splitlines()[-1] == "exit 2 True" and "No such command 'nosuch'" in wrong.stderr
    assert not (tmp_path / "home" / "cache" / "help").exists()
    page = help_request(tmp_path / "home", "--help").stdout
    [kept] = (tmp_path / "home" / "cache" / "help").iterdir()
    kept.write_text('["another request"]\nUsage: something else\n')
    again = help_request(tmp_path / "home", "--help")
    assert again.stdout == page and again.stderr.splitlines()[-1] == "exit 0 True"


def test_a_changed_source_is_a_new_page(tmp_path, monkeypatch):
    from flowimg import help_pages

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "cli.py").write_text("HELP = 'one'\n")
    monkeypatch.setattr(help_pages, "_PACKAGE", str(tmp_path / "pkg"))
    before = help_pages._key(["--help"], "flowimg")
    assert help_pages._key(["--help"], "flowimg") == before
    (tmp_path / "pkg" / "cli.py").write_text("HELP = 'three'\n")  # file times can be coarser than the test
    assert help_pages._key(["--help"], "flowimg") != before
    assert help_pages._key(["build", "--help"], "flowimg") != help_pages._key(["--help"], "flowimg")


def test_a_reader_that_leaves_ends_the_command_quietly(tmp_path):
    """`flowimg ... | head`: the pipe's writer stops with 141 (as one killed by SIGPIPE), no error, no traceback."""
    for _ in range(2):  # typer's page, then the kept one
        process = subprocess.Popen([FLOWIMG, "runs", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "FLOWIMG_HOME": str(tmp_path / "home")})
        process.stdout.close()  # gone before the command writes a byte
        assert process.stderr.read() == b"" and process.wait(timeout=60) == 141
