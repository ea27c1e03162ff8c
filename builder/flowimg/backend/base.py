"""The flow registry: projects, flows and their versions, whichever database holds them.

`Backend` is what callers use. `SQLBackend` holds every query, because SQLite and PostgreSQL differ
here only in how a connection is made, how parameters are written and how writers are serialised.
"""
from __future__ import annotations

import abc
import hashlib
import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence, Tuple, cast

from ..errors import FlowimgError
from .schema import MIGRATIONS, SCHEMA_VERSION, TABLES, VERSION_TABLE, check_supported, unversioned


@dataclass(frozen=True)
class FlowVersion:
    """One registered version of a flow; rows are never updated, a change makes a new version."""

    id: str
    project: str
    name: str
    version: int
    structure: dict
    structure_hash: str
    storage: dict
    labels: list[str]
    parameters: dict
    metadata_hash: str
    registered_at: str
    source: str = ""  # the script or module registered from, for messages; not compared


def _canonical_json(value: Any) -> str:
    """Canonical text, so equal values always hash and compare equal whatever their key order."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise FlowimgError(
            f"the registry stores only JSON values (str, number, bool, None, list, dict): {exc}; "
            "give parameters JSON defaults"
        ) from None


def metadata_hash(structure_hash: str, storage: dict, labels: list[str], parameters: dict) -> str:
    """What decides whether a registration is new: pure, over nothing volatile (no time, no ids).

    Labels are a set: their order and repeats do not change the hash.
    """
    text = _canonical_json(
        {
            "structure_hash": structure_hash,
            "storage": storage,
            "labels": sorted(set(labels)),
            "parameters": parameters,
        }
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Backend(abc.ABC):
    """The registry interface; `location` names the database for messages, never with a password."""

    location: str = ""

    @abc.abstractmethod
    def create_project(self, name: str) -> bool:
        """True if the project was created, False if it already existed."""

    @abc.abstractmethod
    def list_projects(self) -> list[str]: ...

    @abc.abstractmethod
    def project_exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def register(
        self,
        project: str,
        name: str,
        *,
        structure: dict,
        structure_hash: str,
        storage: dict,
        labels: list[str],
        parameters: dict,
        metadata_hash: str,
        force: bool = False,
        source: str = "",
    ) -> tuple[FlowVersion, bool]:
        """Atomic and idempotent: an unchanged metadata_hash returns the latest version, not a new one."""

    @abc.abstractmethod
    def get(self, project: str, name: str, version: int | None = None) -> FlowVersion:
        """The given version, or the latest when version is None."""

    @abc.abstractmethod
    def versions(self, project: str, name: str) -> list[FlowVersion]:
        """Every version of a flow, oldest first."""

    @abc.abstractmethod
    def list_flows(self, project: str | None = None) -> list[FlowVersion]:
        """The latest version of each flow, sorted by project then name."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_COLUMN_NAMES = tuple(field.name for field in fields(FlowVersion))
_COLUMNS = ", ".join(_COLUMN_NAMES)
_JSON_FIELDS = ("structure", "storage", "labels", "parameters")


def _row_to_version(row: Sequence[Any]) -> FlowVersion:
    values = dict(zip(_COLUMN_NAMES, row))
    for field in _JSON_FIELDS:
        values[field] = json.loads(values[field])
    return FlowVersion(**values)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _names(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values) or "none"


class SQLBackend(Backend):
    """All queries, written with `?` placeholders; subclasses connect, translate and lock."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement and return its DB-API cursor."""

    @abc.abstractmethod
    @contextmanager
    def _write(self, *key: str) -> Iterator[None]:
        """A transaction in which no other writer of the same key runs (whole database on SQLite)."""

    @abc.abstractmethod
    def _tables(self) -> list[str]:
        """Names of the tables in the registry's database (schema, on PostgreSQL)."""

    @abc.abstractmethod
    def _columns(self, table: str) -> list[str]: ...

    def _create_schema(self) -> None:
        """Create a new registry, or migrate an older one forward; refuse one newer than this flowimg."""
        with self._write("schema"):
            tables = self._tables()
            if VERSION_TABLE in tables:
                row = self._execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()
                version = row[0] if row and row[0] is not None else unversioned(tables, self._columns)
            else:
                version = unversioned(tables, self._columns)
            if version is not None:
                check_supported(version, self.location)
            if version == SCHEMA_VERSION and VERSION_TABLE in tables:
                return
            for statement in TABLES if version is None else TABLES[-1:]:
                self._execute(statement)
            for step in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
                for statement in MIGRATIONS[step + 1]:
                    self._execute(statement)
            self._execute(f"DELETE FROM {VERSION_TABLE}")
            self._execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)", (SCHEMA_VERSION,))

    def _insert_project(self, name: str) -> bool:
        if not isinstance(name, str) or not name.strip():
            raise FlowimgError("a project needs a non-empty name: --project MyProject")
        cursor = self._execute(
            "INSERT INTO projects (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (name, _now())
        )
        return bool(cursor.rowcount == 1)

    def create_project(self, name: str) -> bool:
        with self._write("project", name):
            return self._insert_project(name)

    def list_projects(self) -> list[str]:
        # Sorted here, not in SQL, so both databases agree whatever their collation.
        return sorted(row[0] for row in self._execute("SELECT name FROM projects").fetchall())

    def project_exists(self, name: str) -> bool:
        return self._execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone() is not None

    def _latest(self, project: str, name: str) -> FlowVersion | None:
        row = self._execute(
            f"SELECT {_COLUMNS} FROM flow_versions WHERE project = ? AND name = ? ORDER BY version DESC LIMIT 1",
            (project, name),
        ).fetchone()
        return _row_to_version(row) if row else None

    def register(
        self,
        project: str,
        name: str,
        *,
        structure: dict,
        structure_hash: str,
        storage: dict,
        labels: list[str],
        parameters: dict,
        metadata_hash: str,
        force: bool = False,
        source: str = "",
    ) -> tuple[FlowVersion, bool]:
        if not isinstance(name, str) or not name.strip():
            raise FlowimgError("a flow needs a non-empty name to be registered: Flow('my-flow')")
        with self._write("flow", project, name):
            self._insert_project(project)
            latest = self._latest(project, name)
            if latest is not None and latest.metadata_hash == metadata_hash and not force:
                return latest, False
            draft = FlowVersion(
                id=str(uuid.uuid4()),
                project=project,
                name=name,
                version=(latest.version if latest else 0) + 1,
                structure=structure,
                structure_hash=structure_hash,
                storage=storage,
                labels=sorted(set(labels)),
                parameters=parameters,
                metadata_hash=metadata_hash,
                registered_at=_now(),
                source=source,
            )
            values = [
                _canonical_json(getattr(draft, c)) if c in _JSON_FIELDS else getattr(draft, c) for c in _COLUMN_NAMES
            ]
            self._execute(
                f"INSERT INTO flow_versions ({_COLUMNS}) VALUES ({', '.join('?' * len(values))})", values
            )
            # Read back from the stored text, so the caller sees exactly what get() will return.
            return _row_to_version(values), True

    def _check_project(self, project: str) -> None:
        if not self.project_exists(project):
            raise FlowimgError(
                f"no project named '{project}' in the registry ({self.location}); "
                f"known projects: {_names(self.list_projects())}; check --project or register into it first"
            )

    def _unknown_flow(self, project: str, name: str) -> FlowimgError:
        self._check_project(project)
        flows = [flow.name for flow in self.list_flows(project)]
        return FlowimgError(
            f"project '{project}' has no flow named '{name}'; its flows: {_names(flows)}; "
            f"check the name or register it with `flowimg register -p PATH --project {project}`"
        )

    def versions(self, project: str, name: str) -> list[FlowVersion]:
        rows = self._execute(
            f"SELECT {_COLUMNS} FROM flow_versions WHERE project = ? AND name = ? ORDER BY version",
            (project, name),
        ).fetchall()
        if not rows:
            raise self._unknown_flow(project, name)
        return [_row_to_version(row) for row in rows]

    def get(self, project: str, name: str, version: int | None = None) -> FlowVersion:
        if version is not None and not 0 < version < 2 ** 63:
            raise FlowimgError(f"version {version} cannot exist: versions are whole numbers from 1; "
                               "pick one from `flowimg flows show` or omit --version for the latest")
        if version is None:
            latest = self._latest(project, name)
            if latest is None:
                raise self._unknown_flow(project, name)
            return latest
        row = self._execute(
            f"SELECT {_COLUMNS} FROM flow_versions WHERE project = ? AND name = ? AND version = ?",
            (project, name, version),
        ).fetchone()
        if row:
            return _row_to_version(row)
        existing = [v.version for v in self.versions(project, name)]
        raise FlowimgError(
            f"flow '{name}' in project '{project}' has no version {version}; "
            f"its versions: {_names(existing)}; pick one of those or omit the version for the latest"
        )

    def list_flows(self, project: str | None = None) -> list[FlowVersion]:
        where, params = "", cast(Tuple[str, ...], ())
        if project is not None:
            self._check_project(project)
            where, params = "WHERE v.project = ?", (project,)
        rows = self._execute(
            f"SELECT {', '.join('v.' + c for c in _COLUMN_NAMES)} FROM flow_versions v "
            "JOIN (SELECT project, name, MAX(version) AS version FROM flow_versions GROUP BY project, name) m "
            f"ON v.project = m.project AND v.name = m.name AND v.version = m.version {where}",
            params,
        ).fetchall()
        return sorted((_row_to_version(row) for row in rows), key=lambda v: (v.project, v.name))
