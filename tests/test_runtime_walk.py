"""The runtime package walk and the ignore rules, made cheaper, give what the straightforward versions gave."""
import itertools
import os
import stat

import pytest

from flowimg.errors import FlowimgError
from flowimg.image import context
from flowimg.image.context import DEFAULT_RULES, Collected, Entry, package_sources, walked_stat
from flowimg.image.ignore import excluder, ignored, parse_rules


def reference_ignored(rules, relpath):
    """Every rule against the path and each of its folders; the last rule that matches decides."""
    parts = relpath.split("/")
    verdict = False
    for rule in rules:
        if any(rule.regex.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            verdict = not rule.negate
    return verdict


def reference_walk(root):
    """os.listdir, lstat and the rules on every child, as a mapped folder is walked, keeping .py files."""
    found = {os.path.basename(root): Entry(kind="dir", path=root)}

    def visit(folder, name, rel):
        for child in sorted(os.listdir(folder)):
            path, child_rel, child_name = os.path.join(folder, child), f"{rel}/{child}" if rel else child, f"{name}/{child}"
            st = os.lstat(path)
            if reference_ignored(DEFAULT_RULES, child_rel):
                continue
            if stat.S_ISDIR(st.st_mode):
                found[child_name] = Entry(kind="dir", path=path)
                visit(path, child_name, child_rel)
            elif not child.endswith(".py"):
                continue
            elif stat.S_ISLNK(st.st_mode):
                target = os.path.relpath(os.path.realpath(path), os.path.realpath(folder))
                found[child_name] = Entry(kind="link", path=path, target=target)
            else:
                found[child_name] = Entry(kind="file", path=path, executable=bool(st.st_mode & stat.S_IXUSR))

    visit(root, os.path.basename(root), "")
    return found


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "pkg"
    for name in ["__init__.py", "a.py", "data.txt", "README", ".env", ".env.py", "x.pyc", "tool.py",
                 "sub/__init__.py", "sub/b.py", "sub/b.pyc", "sub/notes.md", "sub/deeper/c.py", "sub/deeper/.envrc",
                 "__pycache__/a.cpython-311.pyc", "sub/__pycache__/b.py", ".git/config.py", ".git/hooks/h.py",
                 ".venv/lib/site.py", "sub/.venv.py", "é/ü.py", "templates/x.j2", "templates/inner/y.py"]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    (root / "tool.py").chmod(0o755)
    (root / "empty").mkdir()
    (root / "alias.py").symlink_to("a.py")
    (root / "sub" / "up.py").symlink_to("../sub/deeper/c.py")
    (root / "sub" / "folder.py").symlink_to("deeper")
    (root / "link-to-txt").symlink_to("data.txt")
    return root


def test_package_walk_equals_the_reference_walk(package):
    out = Collected()
    package_sources(str(package), "opt/lib", out)
    expected = {f"opt/lib/{name}": entry for name, entry in reference_walk(str(package)).items()}
    assert out.entries == expected
    assert "opt/lib/pkg/sub/folder.py" in out.entries and "opt/lib/pkg/templates/inner/y.py" in out.entries
    assert not any(".env" in name or "__pycache__" in name or ".git" in name for name in out.entries)
    assert out.entries["opt/lib/pkg/tool.py"].executable


def test_the_walk_keeps_its_stats_for_the_stat_key(package):
    package_sources(str(package), "opt/lib", Collected())
    path = str(package / "a.py")
    assert walked_stat(path) is context._STATS[path]
    assert (walked_stat(path).st_size, walked_stat(path).st_ino) == (os.stat(path).st_size, os.stat(path).st_ino)


def test_a_runtime_link_to_an_ignored_file_is_refused_as_before(tmp_path):
    root = tmp_path / "pkg"
    (root / "__pycache__").mkdir(parents=True)
    (root / "__pycache__" / "m.py").write_text("")
    (root / "m.py").symlink_to("__pycache__/m.py")
    with pytest.raises(FlowimgError, match="which the ignore patterns leave out"):
        package_sources(str(root), "opt/lib", Collected())


PATTERNS = ["*.py", "**/*.py", "sub", "!sub/deep", "sub/**", "!**/keep*", "a?c", "[a-c]x", "[!a-c]x", "**",
            "docs", "!docs/README.md", "data/**/*.csv", "*.txt", "!.env.example", "\\#hash.txt", "**/.git",
            "**/.env*", "**/__pycache__", "**/*.pyc", "x/**/y", "!x/y", ".venv"]
PATHS = ["a.py", "sub/a.py", "sub/deep/a.py", "sub/deep", "sub/keep.txt", "abc", "bx", "dx", "docs/README.md",
         "docs/other.md", "data/a/b/c.csv", "data/c.csv", "#hash.txt", ".env.example", ".env", "a/.git/config",
         "x/y", "x/a/b/y", "x/y/z", "pkg/__pycache__/m.pyc", "sub/.venv", ".venv/lib", "a\nb.py", "é/ü.txt",
         "keep", "notes.md", "a//b.py", "/abs.py"]


def walk_decides(rules, path):
    """What a walk with excluder(rules) decides for `path`: with no `!pattern` it goes into no ignored
    folder, so the first folder excluded leaves the path out; with one, the path alone is asked."""
    excluded = excluder(rules)
    if any(rule.negate for rule in rules):
        return excluded(path)
    parts = path.split("/")
    return any(excluded("/".join(parts[:i])) for i in range(1, len(parts) + 1))


@pytest.mark.parametrize("size", [1, 2, 3])
def test_ignore_rules_decide_as_every_rule_in_order(size):
    """Every ordered choice of 1-2 patterns, and of 3 of the first 12 (negations among them), against every
    path: `ignored` and a walk with `excluder` decide as trying every rule on every folder does."""
    differ = []
    for chosen in itertools.permutations(PATTERNS[:12] if size == 3 else PATTERNS, size):
        rules = parse_rules(list(chosen))
        differ += [(chosen, path) for path in PATHS
                   if not ignored(rules, path) == walk_decides(rules, path) == reference_ignored(rules, path)]
    assert differ == []


def test_the_default_rules_with_a_long_ignore_file():
    for rules in (DEFAULT_RULES, DEFAULT_RULES + parse_rules(PATTERNS)):
        expected = [reference_ignored(rules, path) for path in PATHS]
        assert [ignored(rules, path) for path in PATHS] == [walk_decides(rules, path) for path in PATHS] == expected
    assert ignored(DEFAULT_RULES, "a/.git/config") and not ignored(parse_rules(["!*.py"]), "a.py")
    assert not excluder(())("anything")

