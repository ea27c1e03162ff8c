"""One suite for the flow registry, run against SQLite and a real PostgreSQL server."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from flowimg.backend import FlowVersion, metadata_hash, open_backend
from flowimg.backend.sqlite import SQLiteBackend
from flowimg.errors import FlowimgError
from postgres_service import free_port

STRUCTURE = {"tasks": [{"slug": "get_data-1", "name": "get_data", "kind": "task"}], "edges": []}
STORAGE = {"kind": "Local", "stored_as_script": True, "settings": {"directory": "/flows"}, "flows": {"example": "/flows/a.py"}}




def flow_metadata(structure_hash: str = "s1", labels: list[str] | None = None, x: int = 1) -> dict[str, Any]:
    """What register() takes, with a metadata_hash computed the way a caller does."""
    labels = sorted(labels or ["local"])
    parameters = {"x": x}
    return dict(
        structure=STRUCTURE,
        structure_hash=structure_hash,
        storage=STORAGE,
        labels=labels,
        parameters=parameters,
        metadata_hash=metadata_hash(structure_hash, STORAGE, labels, parameters),
    )


def test_projects_create_list_exist(backend):
    assert backend.list_projects() == []
    assert backend.project_exists("Beta") is False
    assert backend.create_project("Beta") is True
    assert backend.create_project("Beta") is False
    assert backend.create_project("Alpha") is True
    assert backend.list_projects() == ["Alpha", "Beta"]
    assert backend.project_exists("Beta") is True
    assert backend.project_exists("beta") is False


def test_register_new_flow_is_version_1_and_creates_project(backend):
    flow, created = backend.register("P", "example", **flow_metadata(labels=["b", "a"]))
    assert created is True
    assert flow.version == 1
    assert str(uuid.UUID(flow.id, version=4)) == flow.id
    assert (flow.project, flow.name, flow.labels) == ("P", "example", ["a", "b"])
    assert flow.structure == STRUCTURE and flow.storage == STORAGE and flow.parameters == {"x": 1}
    assert flow.registered_at.endswith("+00:00")
    assert backend.project_exists("P")
    assert backend.get("P", "example") == flow


def test_same_metadata_is_skipped(backend):
    first, _ = backend.register("P", "example", **flow_metadata())
    again, created = backend.register("P", "example", **flow_metadata())
    assert created is False
    assert again == first
    assert [v.version for v in backend.versions("P", "example")] == [1]


def test_changed_metadata_bumps_version_and_force_bumps_too(backend):
    first, _ = backend.register("P", "example", **flow_metadata("s1"))
    second, created = backend.register("P", "example", **flow_metadata("s2"))
    assert created is True and second.version == 2 and second.id != first.id
    forced, created = backend.register("P", "example", **flow_metadata("s2"), force=True)
    assert created is True and forced.version == 3
    assert forced.metadata_hash == second.metadata_hash
    assert [v.version for v in backend.versions("P", "example")] == [1, 2, 3]
    assert backend.get("P", "example").id == forced.id
    assert backend.get("P", "example", 2) == second
    assert backend.get("P", "example", 1) == first


def test_versions_are_counted_per_project_and_flow(backend):
    backend.register("P", "a", **flow_metadata("s1"))
    backend.register("P", "a", **flow_metadata("s2"))
    other, _ = backend.register("P", "b", **flow_metadata("s1"))
    elsewhere, _ = backend.register("Q", "a", **flow_metadata("s1"))
    assert other.version == 1 and elsewhere.version == 1


def test_list_flows_gives_latest_of_each_sorted(backend):
    backend.register("Q", "zeta", **flow_metadata("s1"))
    backend.register("P", "beta", **flow_metadata("s1"))
    backend.register("P", "beta", **flow_metadata("s2"))
    backend.register("P", "alpha", **flow_metadata("s1"))
    listed = [(f.project, f.name, f.version) for f in backend.list_flows()]
    assert listed == [("P", "alpha", 1), ("P", "beta", 2), ("Q", "zeta", 1)]
    assert [(f.name, f.version) for f in backend.list_flows("P")] == [("alpha", 1), ("beta", 2)]
    backend.create_project("Empty")
    assert backend.list_flows("Empty") == []


def test_unknown_project_error_lists_known_projects(backend):
    backend.register("Alpha", "example", **flow_metadata())
    backend.create_project("Beta")
    for call in (lambda: backend.get("Nope", "example"), lambda: backend.versions("Nope", "example"),
                 lambda: backend.list_flows("Nope")):
        with pytest.raises(FlowimgError) as info:
            call()
        message = str(info.value)
        assert "'Nope'" in message and "Alpha, Beta" in message and "--project" in message
        assert "\n" not in message


def test_unknown_flow_error_lists_flows_in_project(backend):
    backend.register("P", "first", **flow_metadata())
    backend.register("P", "second", **flow_metadata())
    backend.register("Q", "other", **flow_metadata())
    with pytest.raises(FlowimgError) as info:
        backend.get("P", "missing")
    message = str(info.value)
    assert "'missing'" in message and "first, second" in message and "other" not in message
    assert "flowimg register" in message and "\n" not in message


def test_unknown_version_error_lists_versions(backend):
    backend.register("P", "example", **flow_metadata("s1"))
    backend.register("P", "example", **flow_metadata("s2"))
    with pytest.raises(FlowimgError) as info:
        backend.get("P", "example", 7)
    message = str(info.value)
    assert "no version 7" in message and "1, 2" in message and "\n" not in message


def test_data_survives_reopening(backend_url):
    with open_backend(backend_url) as first:
        registered, _ = first.register("P", "example", **flow_metadata())
    with open_backend(backend_url) as second:
        assert second.get("P", "example") == registered


def test_metadata_hash_is_pure():
    base = metadata_hash("s1", {"kind": "Local", "settings": {"a": 1, "b": 2}}, ["x", "y"], {"p": 1, "q": [1, 2]})
    assert base == metadata_hash("s1", {"kind": "Local", "settings": {"a": 1, "b": 2}}, ["x", "y"], {"p": 1, "q": [1, 2]})
    # Dict key order never matters.
    assert base == metadata_hash("s1", {"settings": {"b": 2, "a": 1}, "kind": "Local"}, ["x", "y"], {"q": [1, 2], "p": 1})
    # Labels are a set: order and repeats do not matter (the hash sorts them itself).
    assert base == metadata_hash("s1", {"kind": "Local", "settings": {"a": 1, "b": 2}}, ["y", "x", "x"], {"p": 1, "q": [1, 2]})
    # Each input counts.
    assert base != metadata_hash("s2", {"kind": "Local", "settings": {"a": 1, "b": 2}}, ["x", "y"], {"p": 1, "q": [1, 2]})
    assert base != metadata_hash("s1", {"kind": "Local", "settings": {"a": 1, "b": 3}}, ["x", "y"], {"p": 1, "q": [1, 2]})
    assert base != metadata_hash("s1", {"kind": "Local", "settings": {"a": 1, "b": 2}}, ["x"], {"p": 1, "q": [1, 2]})
    assert base != metadata_hash("s1", {"kind": "Local", "settings": {"a": 1, "b": 2}}, ["x", "y"], {"p": 2, "q": [1, 2]})
    assert len(base) == 64 and int(base, 16) >= 0


def test_metadata_hash_refuses_values_that_are_not_json():
    with pytest.raises(FlowimgError, match="JSON"):
        metadata_hash("s1", {}, [], {"p": {1, 2}})


def _register_in_process(url: str, barrier: Any, results: Any) -> None:
    try:
        with open_backend(url) as backend:
            barrier.wait(timeout=60)
            flow, created = backend.register("P", "example", **flow_metadata("changed"))
        results.put((flow.id, flow.version, created))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        results.put(("error", repr(exc), False))
        barrier.abort()  # so no sibling waits for this one


def _race(url: str, processes: int = 8) -> list[tuple]:
    """Start processes that all register the same change at the same moment; their outcomes."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    started = [
        context.Process(target=_register_in_process, args=(url, barrier, results), daemon=True)
        for _ in range(processes)
    ]
    for process in started:
        process.start()
    try:
        outcomes = [results.get(timeout=180) for _ in started]
    finally:
        for process in started:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert [o for o in outcomes if o[0] == "error"] == []
    return outcomes


def test_concurrent_processes_make_exactly_one_new_version(backend_url):
    with open_backend(backend_url) as backend:
        backend.register("P", "example", **flow_metadata("original"))
    outcomes = _race(backend_url)
    assert sum(1 for _, _, created in outcomes if created) == 1
    assert {(flow_id, version) for flow_id, version, _ in outcomes} == {(outcomes[0][0], 2)}
    with open_backend(backend_url) as backend:
        assert [v.version for v in backend.versions("P", "example")] == [1, 2]


def test_concurrent_first_opens_create_the_schema_once(backend_url):
    """Eight processes opening a brand-new database at once all succeed and agree on version 1."""
    outcomes = _race(backend_url)
    assert sum(1 for _, _, created in outcomes if created) == 1
    assert {version for _, version, _ in outcomes} == {1}


# --- opening: URLs, defaults, errors -------------------------------------------------------


def test_default_is_sqlite_under_flowimg_home(flowimg_home):
    with open_backend() as backend:
        assert isinstance(backend, SQLiteBackend)
        assert backend.path == str(flowimg_home / "flowimg.db")
    assert (flowimg_home / "flowimg.db").is_file()


def test_default_home_folder_is_created(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWIMG_HOME", str(tmp_path / "not" / "yet"))
    with open_backend():
        pass
    assert (tmp_path / "not" / "yet" / "flowimg.db").is_file()


def test_env_variable_picks_the_backend(tmp_path, monkeypatch, flowimg_home):
    monkeypatch.setenv("FLOWIMG_BACKEND", f"sqlite://{tmp_path}/from-env.db")
    with open_backend() as backend:
        backend.create_project("P")
    assert (tmp_path / "from-env.db").is_file()
    assert not (flowimg_home / "flowimg.db").exists()


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "/some/path.db", "sqlite://relative.db"])
def test_unsupported_url_names_accepted_forms(url):
    with pytest.raises(FlowimgError) as info:
        open_backend(url)
    assert "sqlite:///" in str(info.value) and "postgresql://" in str(info.value)


def test_unwritable_sqlite_location_is_a_flowimg_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(FlowimgError, match="cannot open the flow registry"):
        open_backend(f"sqlite://{blocker}/registry.db")


def _assert_clean_connection_error(message: str, host_port: str, dbname: str, *secrets: str) -> None:
    assert "\n" not in message
    assert host_port in message and f"'{dbname}'" in message
    assert "FLOWIMG_BACKEND" in message and "--backend" in message
    for secret in secrets:
        assert secret not in message


def test_unreachable_postgres_is_one_line_without_password():
    port = free_port()
    secret = "s3cret-Unreachable"
    with pytest.raises(FlowimgError) as info:
        open_backend(f"postgresql://someone:{secret}@127.0.0.1:{port}/registry")
    _assert_clean_connection_error(str(info.value), f"127.0.0.1:{port}", "registry", secret)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_wrong_postgres_password_is_one_line_without_password(postgres_server):
    wrong = "wrong-Pass%40word"  # URL-quoted '@': neither spelling may appear
    with pytest.raises(FlowimgError) as info:
        open_backend(postgres_server.url(password=wrong).replace("postgresql://", "postgres://"))
    message = str(info.value)
    _assert_clean_connection_error(message, f"127.0.0.1:{postgres_server.port}", "flowimg", wrong, "wrong-Pass@word")
    assert postgres_server.password not in message
    assert "password authentication failed" in message


def test_postgres_url_fixture_reaches_a_working_registry(postgres_url, postgres_server):
    assert postgres_server.password in postgres_url
    with open_backend(postgres_url) as backend:
        assert backend.location == f"postgresql://127.0.0.1:{postgres_server.port}/flowimg"
        assert postgres_server.password not in backend.location
        backend.create_project(f"P-{os.getpid()}")
        assert backend.project_exists(f"P-{os.getpid()}")


def test_flow_version_is_frozen(backend):
    flow, _ = backend.register("P", "example", **flow_metadata())
    assert isinstance(flow, FlowVersion)
    with pytest.raises(AttributeError):
        flow.version = 5  # type: ignore[misc]


def test_postgres_without_psycopg_names_the_extra():
    """The package imports without psycopg; only opening a PostgreSQL URL needs it."""
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import flowimg.backend as b\n"
        "try:\n    b.open_backend('postgresql://u:p@127.0.0.1:1/db')\n"
        "except b.FlowimgError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "PostgreSQL needs the postgres extra: pip install 'flowimg[postgres]'"
