"""Loading flows from scripts, modules and pickles, and the errors a user sees."""
from __future__ import annotations

import json

import pytest

from cli_helpers import results_by_slug, seed_flow
from flowimg import FlowimgError
from flowimg.loading import PICKLE_MAGIC, flow_from_bytes, flow_to_bytes, load_module, load_script, pick_flow


def test_script_runs_without_main_block_with_file_set_and_sibling_import(tmp_path):
    (tmp_path / "helpers.py").write_text("VALUE = 41\n")
    script = tmp_path / "flow.py"
    script.write_text(
        "import helpers\nfrom flowimg import task, Flow\nSEEN_FILE = __file__\n"
        "@task\ndef answer():\n    return helpers.VALUE + 1\n"
        "with Flow('f') as flow:\n    answer()\n"
        "if __name__ == '__main__':\n    raise SystemExit('main block ran')\n"
    )
    flows = load_script(str(script))
    assert list(flows) == ["f"]
    assert results_by_slug(flows["f"])["answer-1"] == 42


def test_script_text_given_directly(tmp_path):
    flows = load_script(str(tmp_path / "virtual.py"), text=seed_flow(name="from-text"))
    assert "from-text" in flows


@pytest.mark.parametrize("text, pattern", [
    ("x = 1\n", r"no flow found in .*empty\.py"),
    ("def broken(:\n", r"empty\.py:1: SyntaxError"),
    ("import os\nraise RuntimeError('bad config')\n", r"empty\.py:2: the flow script raised RuntimeError: bad config"),
])
def test_script_errors_name_file_and_line(tmp_path, text, pattern):
    script = tmp_path / "empty.py"
    script.write_text(text)
    with pytest.raises(FlowimgError, match=pattern):
        load_script(str(script))


def test_missing_script(tmp_path):
    with pytest.raises(FlowimgError, match="does not exist"):
        load_script(str(tmp_path / "nope.py"))


def test_pick_flow_lists_the_flows_found(tmp_path):
    flows = load_script(str(tmp_path / "f.py"), text=seed_flow(name="a"))
    assert pick_flow(flows, None, "f.py").name == "a"
    with pytest.raises(FlowimgError, match="no flow named 'b' in f.py; found: a"):
        pick_flow(flows, "b", "f.py")


def test_module_loading(tmp_path, monkeypatch):
    (tmp_path / "flows_mod.py").write_text(seed_flow(name="mod-flow"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "mod-flow" in load_module("flows_mod")
    with pytest.raises(FlowimgError, match="cannot import module 'no_such_mod'"):
        load_module("no_such_mod")


def test_pickle_round_trip_runs_the_same_code(tmp_path):
    flow = load_script(str(tmp_path / "f.py"), text=seed_flow(name="p", printed="sum(data)"))["p"]
    data = flow_to_bytes(flow)
    assert data.startswith(PICKLE_MAGIC)
    header = json.loads(data[len(PICKLE_MAGIC):].split(b"\n", 1)[0])
    assert set(header) == {"python", "flowimg", "cloudpickle"}
    again = flow_from_bytes(data)
    assert again.structure_hash() == flow.structure_hash()
    assert results_by_slug(again)["get_data-1"] == [1, 2, 3, 4, 5]


def test_pickle_from_another_python_is_a_clear_error(tmp_path):
    flow = load_script(str(tmp_path / "f.py"), text=seed_flow())["example"]
    data = flow_to_bytes(flow)
    header, payload = data[len(PICKLE_MAGIC):].split(b"\n", 1)
    meta = json.loads(header)
    meta["python"] = "2.7.18"
    forged = PICKLE_MAGIC + json.dumps(meta).encode() + b"\n" + payload
    with pytest.raises(FlowimgError, match=r"pickled with Python 2\.7\.18 .* store the flow as a script"):
        flow_from_bytes(forged)
    with pytest.raises(FlowimgError, match="not a flowimg pickle"):
        flow_from_bytes(b"garbage")


def test_a_missing_import_is_its_own_error_kind(tmp_path):
    from flowimg.errors import MissingModule

    script = tmp_path / "f.py"
    script.write_text("import no_such_module_here\n")
    with pytest.raises(MissingModule, match="ModuleNotFoundError: No module named 'no_such_module_here'"):
        load_script(str(script))
    script.write_text("raise ValueError('ModuleNotFoundError is only text here')\n")
    with pytest.raises(FlowimgError) as info:
        load_script(str(script))
    assert not isinstance(info.value, MissingModule)
