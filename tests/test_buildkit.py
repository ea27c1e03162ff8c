"""Choosing BuildKit or the legacy builder, the CLI flags for build_kwargs, and reading plain progress."""
from __future__ import annotations

import pytest

from flowimg import FlowimgError
from flowimg.image.buildkit import _Progress, cli_flags, docker_builder

FAILED_BUILD = """\
#1 [internal] load remote build context
#1 DONE 0.0s

#5 [2/4] RUN echo preparing-step && false
#5 sha256:42b767fbc7a89f23366a5a19f65f7a606e1f8a4522df91924a68e261ac18d90f
#5 0.310 preparing-step
#5 ERROR: executor failed running [/bin/sh -c echo preparing-step && false]: exit code: 1
------
 > [2/4] RUN echo preparing-step && false:
#5 0.310 preparing-step
------
error: failed to solve: executor failed running [/bin/sh -c echo preparing-step && false]: exit code: 1
"""


def test_a_failed_step_is_one_message_with_its_last_output_and_the_log_skips_digests():
    shown: list = []
    progress = _Progress(shown.append)
    for line in FAILED_BUILD.splitlines():
        progress.feed(line)
    assert progress.failure() == (
        "image build failed at [2/4] RUN echo preparing-step && false: executor failed running "
        "[/bin/sh -c echo preparing-step && false]: exit code: 1 (last output: preparing-step)")
    assert not any("sha256:" in line or line.startswith((" > ", "------")) or not line for line in shown)
    assert shown[2] == "#5 [2/4] RUN echo preparing-step && false"


def test_a_failure_before_any_step_names_the_clis_error():
    progress = _Progress(lambda line: None)
    progress.feed("error: failed to solve: rpc error: code = Unknown desc = failed to read dockerfile: open x: no such file")
    assert progress.failure() == "image build failed at the build: failed to read dockerfile: open x: no such file"


def test_build_kwargs_become_the_same_cli_flags():
    flags = cli_flags({"buildargs": {"B": "2", "A": "1"}, "nocache": True, "pull": False, "target": "final",
                       "extra_hosts": {"db": "127.0.0.1"}, "cache_from": ["x:1"], "rm": True})
    assert flags == ["--build-arg", "A=1", "--build-arg", "B=2", "--cache-from", "x:1", "--add-host", "db:127.0.0.1",
                     "--no-cache", "--target", "final"]


@pytest.mark.parametrize("kwargs, login, reason", [
    ({"container_limits": {"memory": 1}}, False, "legacy builder: build_kwargs 'container_limits' has no docker CLI flag"),
    ({}, True, "legacy builder: the explicit registry login stays inside docker-py"),
])
def test_what_the_cli_cannot_do_keeps_the_legacy_builder(monkeypatch, kwargs, login, reason):
    monkeypatch.delenv("FLOWIMG_BUILDKIT", raising=False)
    chosen = docker_builder(kwargs, explicit_login=login)
    assert (chosen.cli, chosen.reason) == (None, reason)


def test_requiring_buildkit_without_an_answering_engine_is_one_error(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWIMG_BUILDKIT", "1")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(FlowimgError) as raised:
        docker_builder({})
    assert str(raised.value).startswith(f"FLOWIMG_BUILDKIT=1 but /usr/bin/docker gets no answer from the engine at "
                                        f"unix://{tmp_path}/none.sock; install a docker CLI with BuildKit")
    monkeypatch.setenv("FLOWIMG_BUILDKIT", "off")
    assert docker_builder({}).reason == "legacy builder (FLOWIMG_BUILDKIT=off)"


def test_when_buildkit_reports_nothing_the_clis_last_line_is_the_reason():
    progress = _Progress(lambda line: None)
    progress.feed("Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?")
    assert progress.failure() == ("image build failed at the build: Cannot connect to the Docker daemon at "
                                  "unix:///x.sock. Is the docker daemon running?")
