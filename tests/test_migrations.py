"""Registry databases made by every released schema open, migrate forward and serve every command.

The old DDL is the one each release ran (from `git show 493ba7e:builder/flowimg/backend/base.py` for
version 1, and 8770cbb, which added `source`, for version 2, frozen here as the last release before
version 3 added flow runs), on SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Callable

import pytest

from cli_helpers import one_line_error, seed_flow
from flowimg.backend import metadata_hash, open_backend
from flowimg.backend.schema import SCHEMA_VERSION
from flowimg.loading import load_script

PROJECTS_V1 = """CREATE TABLE IF NOT EXISTS projects (
        name TEXT PRIMARY KEY,
        created_at TEXT NOT NULL
    )"""
FLOW_VERSIONS_V1 = """CREATE TABLE IF NOT EXISTS flow_versions (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL REFERENCES projects (name),
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        structure TEXT NOT NULL,
        structure_hash TEXT NOT NULL,
        storage TEXT NOT NULL,
        labels TEXT NOT NULL,
        parameters TEXT NOT NULL,
        metadata_hash TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        UNIQUE (project, name, version)
    )"""
FLOW_VERSIONS_V2 = FLOW_VERSIONS_V1.replace(
    "registered_at TEXT NOT NULL,", "registered_at TEXT NOT NULL,\n        source TEXT NOT NULL DEFAULT '',")
RELEASED = {1: (PROJECTS_V1, FLOW_VERSIONS_V1), 2: (PROJECTS_V1, FLOW_VERSIONS_V2)}


def _sqlite(url: str) -> Callable[[str, tuple], None]:
    def run(sql: str, params: tuple = ()) -> None:
        with sqlite3.connect(url[len("sqlite://"):]) as conn:
            conn.execute(sql, params)
    return run


def _postgres(url: str) -> Callable[[str, tuple], None]:
    import psycopg

    def run(sql: str, params: tuple = ()) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), params)
    return run


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database(request, tmp_path):
    """(url, run_sql) for an empty database of either kind."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/old.db"
        return url, _sqlite(url)
    url = request.getfixturevalue("postgres_database_url")
    return url, _postgres(url)


@pytest.fixture
def flow_script(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(seed_flow())
    return script


def make_old_registry(database, version: int, script) -> None:
    """A registry as release `version` left it: its tables and one registered flow."""
    _, sql = database
    for statement in RELEASED[version]:
        sql(statement, ())
    flow = load_script(str(script))["example"]
    storage = {"kind": "Local", "stored_as_script": True, "settings": {"path": str(script), "directory": None},
               "flows": {"example": str(script)}}
    sql("INSERT INTO projects (name, created_at) VALUES (?, ?)", ("Old", "2026-01-01T00:00:00+00:00"))
    columns = "id, project, name, version, structure, structure_hash, storage, labels, parameters, metadata_hash, registered_at"
    values = ["id-1", "Old", "example", 1, json.dumps(flow.structure()), flow.structure_hash(), json.dumps(storage),
              "[]", "{}", metadata_hash(flow.structure_hash(), storage, [], {}), "2026-01-01T00:00:00+00:00"]
    if version >= 2:
        columns, values = columns + ", source", values + [str(script)]
    sql(f"INSERT INTO flow_versions ({columns}) VALUES ({', '.join('?' * len(values))})", tuple(values))


@pytest.mark.parametrize("version", sorted(RELEASED))
def test_every_released_schema_migrates_and_serves_every_command(cli, database, flow_script, version):
    url, _ = database
    make_old_registry(database, version, flow_script)
    env = {"FLOWIMG_BACKEND": url}
    assert cli("project", "list", env=env).stdout.split() == ["Old"]
    assert "Old/example  version 1  id id-1" in cli("flows", "list", env=env).stdout
    assert "Old/example  version 1" in cli("flows", "show", "example", "--project", "Old", env=env).stdout
    assert cli("run", "example", "--project", "Old", env=env).stdout.strip() == "[1, 2, 3, 4, 5]"
    flow_script.write_text(seed_flow(printed="'v2', data"))
    assert "Version: 2" in cli("register", "-p", str(flow_script), "--project", "Old", env=env).stdout
    assert cli("run", "example", "--project", "Old", env=env).stdout.strip() == "v2 [1, 2, 3, 4, 5]"
    with open_backend(url) as db:
        assert db.get("Old", "example", 1).source == ("" if version == 1 else str(flow_script))
        assert db.get("Old", "example").source.endswith("example.py")
        assert db._execute("SELECT version FROM flowimg_schema").fetchall() == [(SCHEMA_VERSION,)]
        old = db.get("Old", "example", 1)
        run = db.create_run(old, parameters={}, scheduled_time="2026-01-01T00:00:00.000000Z")
        assert db.claim_runs(agent="a", labels=[], limit=5, now=run.scheduled_time or "") == [
            db.get_run(run.id)]
        db.set_schedule_active("Old", "example", False)
        assert db.schedule_active("Old", "example") is False


def test_a_new_registry_records_the_current_version_once(database):
    url, _ = database
    for _ in range(2):
        with open_backend(url) as db:
            assert db._execute("SELECT version FROM flowimg_schema").fetchall() == [(SCHEMA_VERSION,)]


def test_a_newer_schema_is_one_line_asking_for_an_upgrade(cli, database, flow_script):
    url, sql = database
    with open_backend(url):
        pass
    sql("UPDATE flowimg_schema SET version = ?", (SCHEMA_VERSION + 1,))
    line = one_line_error(cli("flows", "list", env={"FLOWIMG_BACKEND": url}, ok=False))
    assert f"has schema version {SCHEMA_VERSION + 1}, newer than this flowimg knows ({SCHEMA_VERSION}); upgrade flowimg" in line
