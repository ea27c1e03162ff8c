"""The in-image runtime against damaged manifests, pickles and arguments: one `Error:` line, exit 1.

Runs `python -m flowimg.runtime` as the image's entrypoint would, with FLOWIMG_MANIFEST pointing at a
crafted file; no engine needed.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys

import pytest

from cli_helpers import one_line_error, seed_flow
from flowimg.loading import PICKLE_MAGIC, flow_to_bytes, load_script


def run_runtime(manifest_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowimg.runtime", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "FLOWIMG_MANIFEST": str(manifest_path)})


def entry(name: str, path: str, stored_as_script: bool, sha=None) -> dict:
    flow = load_script(path)[name] if stored_as_script else None
    return {
        "name": name, "path": path, "stored_as_script": stored_as_script, "storage_kind": "Docker",
        "storage": {"kind": "Docker", "stored_as_script": stored_as_script, "settings": {"path": path if stored_as_script else None},
                    "flows": {name: path}},
        "structure": flow.structure() if flow else STRUCTURE, "structure_hash": "", "script_sha256": sha,
    }


STRUCTURE = {"tasks": [{"slug": "get_data-1", "name": "get_data", "kind": "task"},
                       {"slug": "print_data-1", "name": "print_data", "kind": "task"}],
             "edges": [["get_data-1", "print_data-1", "0"]]}


@pytest.fixture
def image(tmp_path):
    """A script flow, a pickled flow and a manifest that holds both, as an image would."""
    script = tmp_path / "example.py"
    script.write_text(seed_flow())
    pickle_path = tmp_path / "pickled.flowpickle"
    other = tmp_path / "other.py"
    other.write_text(seed_flow(name="pickled"))
    data = flow_to_bytes(load_script(str(other))["pickled"])
    pickle_path.write_bytes(data)
    manifest = {"schema_version": 1, "flowimg_version": "0", "python_version": "3", "flows": {
        "example": entry("example", str(script), True),
        "pickled": entry("pickled", str(pickle_path), False, hashlib.sha256(data).hexdigest()),
    }}
    path = tmp_path / "manifest.json"

    def write(value) -> str:
        path.write_text(value if isinstance(value, str) else json.dumps(value))
        return str(path)

    write(manifest)
    return {"manifest": manifest, "write": write, "path": path, "pickle": pickle_path, "script": script}


def test_a_sound_image_runs_both_flows(image):
    assert run_runtime(image["path"], "example").stdout.strip() == "[1, 2, 3, 4, 5]"
    assert run_runtime(image["path"], "pickled").stdout.strip() == "[1, 2, 3, 4, 5]"
    assert run_runtime(image["path"], "--check").returncode == 0


def damaged(manifest: dict, change) -> dict:
    manifest = copy.deepcopy(manifest)
    change(manifest)
    return manifest


MANIFEST_CASES = {
    "not JSON": ("{not json", "is not valid JSON"),
    "a list": ("[1, 2]", "schema version None"),
    "no flows": (lambda m: m.pop("flows"), "'flows' is missing or not an object"),
    "flows a list": (lambda m: m.__setitem__("flows", ["example"]), "'flows' is missing or not an object"),
    "entry a string": (lambda m: m["flows"].__setitem__("example", "x"), "flows['example'] is str, not an object"),
    "no path": (lambda m: m["flows"]["example"].pop("path"), "flows['example'] has no 'path'"),
    "path a number": (lambda m: m["flows"]["example"].__setitem__("path", 7), "flows['example'].path is int"),
    "no storage kind": (lambda m: m["flows"]["example"]["storage"].pop("kind"), "storage has no 'kind'"),
    "settings a list": (lambda m: m["flows"]["example"]["storage"].__setitem__("settings", []),
                        "storage.settings is list, not an object"),
    "unknown setting": (lambda m: m["flows"]["example"]["storage"]["settings"].__setitem__("colour", "red"),
                        "settings do not fit this flowimg"),
    "unknown kind": (lambda m: m["flows"]["example"]["storage"].__setitem__("kind", "Tape"), "unknown storage kind 'Tape'"),
    "structure a string": (lambda m: m["flows"]["example"].__setitem__("structure", "x"),
                           "flows['example'].structure is str"),
    "tasks without slugs": (lambda m: m["flows"]["example"]["structure"].__setitem__("tasks", [{}]),
                            "structure.tasks is not a list of tasks with a slug"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
@pytest.mark.parametrize("command", [["example"], ["--check"]])
def test_a_damaged_manifest_is_one_line(image, case, command):
    change, expected = MANIFEST_CASES[case]
    path = image["write"](change if isinstance(change, str) else damaged(image["manifest"], change))
    result = run_runtime(path, *command)
    if command == ["--check"] and result.stdout:  # the manifest held together: a report line per flow
        assert result.returncode == 1 and "Traceback" not in result.stderr
        line = next(line for line in result.stdout.splitlines() if line.startswith("failed: flow 'example'"))
    else:
        line = one_line_error(result)
    assert expected in line and ("rebuild the image" in line or "known:" in line)


def test_a_manifest_that_is_not_utf8_or_not_a_file(image, tmp_path):
    image["path"].write_bytes(b"\xff\xfe{}")
    assert "cannot read the flowimg manifest" in one_line_error(run_runtime(image["path"], "example"))
    assert "cannot read the flowimg manifest" in one_line_error(run_runtime(tmp_path, "example"))


PICKLE_CASES = {
    "missing": (None, "cannot read the pickled flow"),
    "not a pickle": (b"garbage", "sha256"),
    "damaged header": (PICKLE_MAGIC + b"no newline", "sha256"),
}


@pytest.mark.parametrize("case", sorted(PICKLE_CASES))
def test_a_missing_or_bad_pickle_is_one_line(image, case):
    data, expected = PICKLE_CASES[case]
    if data is None:
        image["pickle"].unlink()
    else:
        image["pickle"].write_bytes(data)
    assert expected in one_line_error(run_runtime(image["path"], "pickled"))


@pytest.mark.parametrize("data, expected", [
    (b"garbage", "not a flowimg pickle"),
    (PICKLE_MAGIC + b"no newline", "header is damaged"),
    (PICKLE_MAGIC + b'{"python": 3}\n', "header is damaged"),
    (PICKLE_MAGIC + b'{"python": "3.11", "cloudpickle": "0"}\nxx', "pickled with Python 3.11 and cloudpickle 0"),
])
def test_a_bad_pickle_without_a_recorded_digest_is_one_line(image, data, expected):
    image["pickle"].write_bytes(data)
    image["manifest"]["flows"]["pickled"]["script_sha256"] = None
    assert expected in one_line_error(run_runtime(image["write"](image["manifest"]), "pickled"))


def test_a_pickle_of_another_flow_is_refused_by_name(image, tmp_path):
    image["pickle"].write_bytes(flow_to_bytes(load_script(str(image["script"]))["example"]))
    assert "the manifest records" in one_line_error(run_runtime(image["path"], "pickled"))
    image["manifest"]["flows"]["pickled"]["script_sha256"] = None
    line = one_line_error(run_runtime(image["write"](image["manifest"]), "pickled"))
    assert "holds flow 'example', not 'pickled'" in line


@pytest.mark.parametrize("args, expected", [
    (["--params-json", "{bad"], "--params-json is not valid JSON"),
    (["--params-json", "[1]"], "--params-json is list, not a JSON object"),
    (["--storage-json", "nope"], "--storage-json is not valid JSON"),
    (["--storage-json", '{"kind": 5, "settings": {}, "flows": {}}'], "--storage-json.kind is int, not a string"),
    (["--storage-json", '{"kind": "Local", "settings": {"bogus": 1}, "flows": {}}'], "do not fit this flowimg"),
    (["--expect-structure-json", "[]"], "--expect-structure-json is list"),
    (["--expect-structure-json", '{"tasks": [], "edges": "x"}'], "edges is not a list"),
    (["--param"], "--param needs a value"),
])
def test_bad_arguments_are_one_line(image, args, expected):
    assert expected in one_line_error(run_runtime(image["path"], "example", *args))


def test_a_script_that_is_not_utf8_is_one_line(image):
    image["script"].write_bytes(b"x = '\xff'\n")
    assert "is not UTF-8 text (byte 5); save it as UTF-8" in one_line_error(run_runtime(image["path"], "example"))
