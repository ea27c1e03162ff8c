"""flow.visualize(), as Prefect 1 documents it (concepts/flows.md, "Visualizing"): a graphviz graph of the
tasks; ImportError naming the extra without the graphviz package; nothing at all while flowimg loads."""
from __future__ import annotations

import sys

import pytest

from flowimg import Flow, task
from flowimg.loading import load_script


@task
def numbers():
    return [1, 2, 3]


@task
def double(x):
    return 2 * x


def make_flow() -> Flow:
    with Flow("viz") as flow:
        double.map(numbers())
    return flow


def test_visualize_draws_each_task_and_marks_mapped_ones():
    source = make_flow().visualize().source
    assert '"numbers"' in source or "label=numbers" in source
    assert "double <map>" in source
    assert "style=dashed" in source and "label=x" in source


def test_visualize_without_graphviz_raises_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=r"(?s)requires graphviz.*pip install 'flowimg\[viz\]'"):
        make_flow().visualize()


def test_loading_a_script_that_visualizes_draws_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    script = tmp_path / "flow.py"
    script.write_text("from flowimg import Flow, task\n@task\ndef a():\n    return 1\n"
                      "with Flow('v') as flow:\n    a()\nflow.visualize()\nflow.run()\n")
    assert list(load_script(str(script))) == ["v"]
