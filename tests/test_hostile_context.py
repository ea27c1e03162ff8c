"""Hostile build contexts, no engine needed: links, special files, unreadable paths, ignore rules, size."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap

import pytest

from cli_helpers import one_line_error, seed_flow
from flowimg import FlowimgError
from flowimg.image.context import build_context
from flowimg.image.ignore import ignored, parse_rules
from flowimg.image.spec import ImageSpec, check_files


def context_of(files: dict):
    """(BuildContext, {member name: TarInfo}) for a spec that copies `files`."""
    spec = ImageSpec(base_image="b", repository="r", tag="t", copies=check_files(files))
    raw = io.BytesIO()
    context = build_context(spec, "FROM b\n", [], raw)
    with tarfile.open(fileobj=io.BytesIO(raw.getvalue()), mode="r:gz") as tar:
        return context, {m.name: m for m in tar.getmembers()}


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    (root / "flow.py").write_text("print('flow')\n")
    return root


def test_a_link_to_a_file_outside_the_folder_is_refused(project, tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    (project / "key").symlink_to(secret)
    with pytest.raises(FlowimgError) as info:
        context_of({str(project): "/opt/app"})
    message = str(info.value)
    assert f"{project}/key is a symlink to {secret}, outside the mapped folder" in message
    assert ".flowimgignore" in message and "\n" not in message


def test_a_linked_folder_outside_is_refused_not_emptied(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "data.txt").write_text("x")
    (project / "linked").symlink_to(outside)
    with pytest.raises(FlowimgError, match="linked is a symlink to .*elsewhere, outside the mapped folder"):
        context_of({str(project): "/opt/app"})


def test_links_inside_the_folder_stay_links_relative_to_where_they_land(project):
    (project / "alias.py").symlink_to("flow.py")
    (project / "pkg" / "abs_alias.py").symlink_to(project / "flow.py")  # absolute, still inside
    (project / "pkg_link").symlink_to("pkg")
    _, members = context_of({str(project): "/opt/app"})
    alias, absolute, folder = (members[f"code/opt/app/{n}"] for n in ("alias.py", "pkg/abs_alias.py", "pkg_link"))
    assert (alias.issym(), alias.linkname) == (True, "flow.py")
    assert (absolute.issym(), absolute.linkname) == (True, "../flow.py")
    assert (folder.issym(), folder.linkname) == (True, "pkg")
    assert not any(name.startswith("code/opt/app/pkg_link/") for name in members)


def test_a_link_to_an_excluded_path_is_refused_not_left_dangling(project):
    (project / ".env").write_text("SECRET=1")
    (project / "settings").symlink_to(".env")
    with pytest.raises(FlowimgError, match=r"settings is a symlink to .*/\.env, which the ignore patterns leave out"):
        context_of({str(project): "/opt/app"})


def test_a_dangling_link_is_refused(project):
    (project / "gone").symlink_to(project / "nothing-here")
    with pytest.raises(FlowimgError, match=r"gone is a symlink to .*nothing-here, which does not exist; fix the link"):
        context_of({str(project): "/opt/app"})


def test_a_fifo_is_refused_and_never_read(project):
    os.mkfifo(project / "pipe")
    with pytest.raises(FlowimgError, match=r"pipe is a FIFO; images get only regular files, folders and links: "
                                           r"remove it or list it in .*project/.flowimgignore"):
        context_of({str(project): "/opt/app"})


def test_a_socket_is_refused(tmp_path):
    folder = tempfile.mkdtemp(dir="/tmp")  # AF_UNIX paths must be short
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(os.path.join(folder, "s.sock"))
        with pytest.raises(FlowimgError, match="s.sock is a socket"):
            context_of({folder: "/opt/app"})
        sock.close()
    finally:
        subprocess.run(["rm", "-rf", folder], check=True)


def test_a_fifo_named_in_files_itself_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(FlowimgError, match=r"pipe is a FIFO; images get only regular files, folders and links: "
                                           r"fix files=\{\.\.\.\}"):
        context_of({str(tmp_path / "pipe"): "/opt/pipe"})


def test_an_ignored_special_file_or_link_is_fine(project, tmp_path):
    os.mkfifo(project / "pipe")
    (project / "key").symlink_to(tmp_path)
    (project / ".flowimgignore").write_text("pipe\nkey\n")
    context, members = context_of({str(project): "/opt/app"})
    assert "code/opt/app/flow.py" in members and "code/opt/app/pipe" not in members
    assert {f"{project}/pipe", f"{project}/key"} <= set(context.excluded)


UNREADABLE = r"""
import sys
from flowimg import FlowimgError
from flowimg.image.context import build_context
from flowimg.image.spec import ImageSpec, check_files
spec = ImageSpec(base_image="b", repository="r", tag="t", copies=check_files({sys.argv[1]: "/opt/app"}))
try:
    build_context(spec, "FROM b\n", [])
except FlowimgError as exc:
    print(exc)
"""


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_an_unreadable_path_is_refused_not_dropped(kind, tmp_path):
    """Root reads everything: the probe drops the capabilities that let it, to see what a user sees."""
    root = tmp_path / "project"
    (root / "closed").mkdir(parents=True)
    (root / "closed" / "x.py").write_text("")
    (root / "ok.py").write_text("")
    path = root / "closed" if kind == "folder" else root / "closed" / "x.py"
    path.chmod(0)
    as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    result = subprocess.run([*as_user, sys.executable, "-c", UNREADABLE, str(root)], capture_output=True,
                            text=True, timeout=60)
    path.chmod(0o755)
    assert result.stdout.startswith(f"cannot read {'folder ' if kind == 'folder' else ''}{path} (Permission denied)"), result
    assert "list it in" in result.stdout and "Traceback" not in result.stderr


def test_default_exclusions_keep_repositories_env_files_and_venvs_out(project):
    for path in (".git/config", ".env", ".env.local", ".venv/bin/python", "pkg/__pycache__/mod.cpython-311.pyc",
                 "stale.pyc", "pkg/.git/HEAD"):
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text("token=abc")
    context, members = context_of({str(project): "/opt/app"})
    kept = sorted(n[len("code/opt/app/"):] for n in members if n.startswith("code/opt/app/"))
    assert kept == ["flow.py", "pkg", "pkg/mod.py"]
    assert sorted(context.excluded) == sorted(f"{project}/{p}" for p in (
        ".env", ".env.local", ".git/", ".venv/", "pkg/.git/", "pkg/__pycache__/", "stale.pyc"))
    assert set(context.patterns) == {"**/.git", "**/.env*", "**/.venv", "**/__pycache__", "**/*.pyc"}


def test_flowimgignore_globs_double_star_negation_and_comments(project):
    for path in ("docs/a.md", "docs/README.md", "data/big.csv", "data/sub/more.csv", "notes.txt", ".env.example",
                 "#hash.txt"):
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text("x")
    (project / ".flowimgignore").write_text(textwrap.dedent("""\
        # documentation stays out, except its README
        docs
        !docs/README.md
        data/**/*.csv
        *.txt
        !.env.example
        \\#hash.txt
    """))
    context, members = context_of({str(project): "/opt/app"})
    kept = sorted(n[len("code/opt/app/"):] for n in members if n.startswith("code/opt/app/"))
    assert kept == [".env.example", ".flowimgignore", "data", "data/sub", "docs", "docs/README.md", "flow.py",
                    "pkg", "pkg/mod.py"]
    assert f"{project}/data/sub/more.csv" in context.excluded and f"{project}/#hash.txt" in context.excluded
    assert "!docs/README.md" in context.patterns


@pytest.mark.parametrize("rules, path, expected", [
    (["*.py"], "a.py", True), (["*.py"], "sub/a.py", False), (["**/*.py"], "sub/deep/a.py", True),
    (["sub"], "sub/deep/a.py", True), (["sub", "!sub/deep"], "sub/deep/a.py", False),
    (["/abs/path"], "abs/path", True), (["a?c"], "abc", True), (["[a-c]x"], "bx", True),
    (["[!a-c]x"], "bx", False), (["# comment", ""], "# comment", False),
])
def test_ignore_rules_follow_dockerignore(rules, path, expected):
    assert ignored(parse_rules(rules), path) is expected


def test_plan_lists_what_was_excluded(cli, project):
    (project / ".env").write_text("SECRET=1")
    (project / "flow.py").write_text(seed_flow(imports="from flowimg.storage import Docker", storage=(
        f"flow.storage = Docker(path='/opt/app/flow.py', files={{{str(project)!r}: '/opt/app'}}, "
        "stored_as_script=True, image_name='team/flows', base_image='base:1')\n")))
    out = cli("plan", "-p", str(project / "flow.py")).stdout
    assert "# excluded 1 paths by: **/.git **/.env* **/.venv **/__pycache__ **/*.pyc" in out
    assert f"  {project}/.env" in out and "  code/opt/app/.env" not in out


def test_plan_of_a_fifo_is_one_line(cli, project):
    os.mkfifo(project / "pipe")
    (project / "flow.py").write_text(seed_flow(imports="from flowimg.storage import Docker", storage=(
        f"flow.storage = Docker(path='/opt/app/flow.py', files={{{str(project)!r}: '/opt/app'}}, "
        "stored_as_script=True, image_name='team/flows', base_image='base:1')\n")))
    assert "pipe is a FIFO" in one_line_error(cli("plan", "-p", str(project / "flow.py"), ok=False))


MEMORY_PROBE = r"""
import resource, sys
from flowimg.image.context import build_context
from flowimg.image.spec import ImageSpec, check_files
spec = ImageSpec(base_image="b", repository="r", tag="t", copies=check_files({sys.argv[1]: "/opt/big.bin"}))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[2], "wb") as out:
    build_context(spec, "FROM b\n", [], out)
build_context(spec, "FROM b\n", [])
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_the_context_is_streamed_not_held_in_memory(tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(128 * 1024 * 1024)
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(big), str(tmp_path / "ctx.tar.gz")],
                            capture_output=True, text=True, timeout=300, check=True)
    assert int(result.stdout) < 48, f"peak memory grew by {result.stdout.strip()} MiB for a 128 MiB file"
    with tarfile.open(tmp_path / "ctx.tar.gz", mode="r:gz") as tar:
        assert tar.getmember("code/opt/big.bin").size == 128 * 1024 * 1024
