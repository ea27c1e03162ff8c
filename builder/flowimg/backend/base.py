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
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Sequence, Tuple, cast

from ..errors import FlowimgError
from .runs import (
    ACTIVE,
    RUN_COLUMNS,
    RUNNING,
    SCHEDULED,
    STATES,
    SUBMITTED,
    UPDATABLE,
    FlowRun,
    iso,
    now_iso,
    parse_iso,
    row_to_run,
    run_to_row,
    slot_key,
    stored_value,
)
if TYPE_CHECKING:
    from ..scheduling import Slot
from ..schedules.errors import ScheduleError
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

    # -- flow runs (see runs.py for the record and its states) ------------------------------

    @abc.abstractmethod
    def create_run(self, version: FlowVersion, *, parameters: dict, state: str = SCHEDULED,
                   scheduled_time: Optional[str] = None, target: str = "", attempt: int = 1,
                   idempotency_key: Optional[str] = None) -> FlowRun:
        """A new run of a version; an existing idempotency_key returns that run instead."""

    @abc.abstractmethod
    def claim_runs(self, *, agent: str, labels: List[str], limit: int, now: str) -> List[FlowRun]:
        """Atomically move due Scheduled runs the agent's labels cover to Submitted, oldest first."""

    @abc.abstractmethod
    def update_run(self, run_id: str, *, expect: Optional[Sequence[str]] = None,
                   **changes: Any) -> Optional[FlowRun]:
        """The changed run, or None when its state was not among `expect`."""

    @abc.abstractmethod
    def mark_lost(self, *, stale_before: str) -> List[FlowRun]:
        """Submitted/Running runs whose heartbeat is older than stale_before, now Lost."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> FlowRun:
        """By id or a unique id prefix of at least 8 characters."""

    @abc.abstractmethod
    def list_runs(self, *, project: Optional[str] = None, flow: Optional[str] = None,
                  state: Optional[str] = None, limit: int = 50) -> List[FlowRun]:
        """Newest first, by scheduled time or else creation time."""

    @abc.abstractmethod
    def cancel_run(self, run_id: str) -> FlowRun: ...

    @abc.abstractmethod
    def replace_scheduled_runs(self, version: FlowVersion, times: Sequence[str], *, after: str) -> int:
        """Swap the flow's future Scheduled runs for one per time; the number inserted."""

    @abc.abstractmethod
    def ensure_scheduled(self, *, now: str, horizon_seconds: float, max_runs: int = 10) -> int:
        """Create the missing upcoming runs of every active scheduled flow; the number inserted."""

    @abc.abstractmethod
    def set_schedule_active(self, project: str, flow: str, active: bool) -> None: ...

    @abc.abstractmethod
    def schedule_active(self, project: str, flow: str) -> bool:
        """True unless the flow's schedule was paused."""

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
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A transaction that takes no lock of its own (claims lock the rows they pick)."""

    # Appended to a SELECT of flow_runs that a transaction is about to change.
    _lock_rows = ""

    @abc.abstractmethod
    def _labels_within(self, column: str) -> str:
        """SQL true when every label in the JSON list `column` is in the JSON list parameter."""

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

    # -- flow runs ---------------------------------------------------------------------------

    def _insert_run(self, run: FlowRun) -> bool:
        values = run_to_row(run)
        cursor = self._execute(
            f"INSERT INTO flow_runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * len(values))}) ON CONFLICT DO NOTHING",
            values,
        )
        return bool(cursor.rowcount == 1)

    def _runs_where(self, where: str, params: Sequence[Any] = (), tail: str = "") -> List[FlowRun]:
        rows = self._execute(f"SELECT {RUN_COLUMNS} FROM flow_runs WHERE {where} {tail}", params).fetchall()
        return [row_to_run(row) for row in rows]

    def create_run(self, version: FlowVersion, *, parameters: dict, state: str = SCHEDULED,
                   scheduled_time: Optional[str] = None, target: str = "", attempt: int = 1,
                   idempotency_key: Optional[str] = None) -> FlowRun:
        _check_state(state)
        run = _new_run(version, parameters=parameters, state=state, scheduled_time=scheduled_time, target=target,
                       attempt=attempt, idempotency_key=idempotency_key, now=now_iso())
        with self._transaction():
            if self._insert_run(run):
                return run
            return self._runs_where("idempotency_key = ?", (idempotency_key,))[0]

    def claim_runs(self, *, agent: str, labels: List[str], limit: int, now: str) -> List[FlowRun]:
        with self._transaction():
            ids = [row[0] for row in self._execute(
                "SELECT id FROM flow_runs r WHERE state = ? AND scheduled_time <= ? "
                "AND NOT EXISTS (SELECT 1 FROM flow_schedules s "
                "WHERE s.project = r.project AND s.flow = r.flow AND s.active = 0) "
                f"AND {self._labels_within('r.labels')} "
                f"ORDER BY scheduled_time, created_at LIMIT ?{self._lock_rows}",
                (SCHEDULED, now, _canonical_json(sorted(set(labels))), limit),
            ).fetchall()]
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            self._execute(f"UPDATE flow_runs SET state = ?, agent = ?, heartbeat = ? WHERE id IN ({marks})",
                          [SUBMITTED, agent, now, *ids])
            return self._runs_where(f"id IN ({marks})", ids, "ORDER BY scheduled_time, created_at")

    def update_run(self, run_id: str, *, expect: Optional[Sequence[str]] = None,
                   **changes: Any) -> Optional[FlowRun]:
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise FlowimgError(f"a flow run's {', '.join(unknown)} cannot change; change only {', '.join(UPDATABLE)}")
        if "state" in changes:
            _check_state(changes["state"])
        run = self.get_run(run_id)
        names = sorted(changes)
        assignments = ", ".join(f"{name} = ?" for name in names) or "id = id"
        values = [stored_value(name, changes[name]) for name in names] + [run.id]
        guard = ""
        if expect is not None:
            # One statement, so no other writer comes between the check and the change.
            guard = f" AND state IN ({', '.join('?' * len(expect))})" if expect else " AND 1 = 0"
            values += list(expect)
        with self._transaction():
            if self._execute(f"UPDATE flow_runs SET {assignments} WHERE id = ?{guard}", values).rowcount != 1:
                return None
            return self._runs_where("id = ?", (run.id,))[0]

    def mark_lost(self, *, stale_before: str) -> List[FlowRun]:
        with self._transaction():
            ids = [row[0] for row in self._execute(
                f"SELECT id FROM flow_runs WHERE state IN (?, ?) AND heartbeat < ?{self._lock_rows}",
                (SUBMITTED, RUNNING, stale_before),
            ).fetchall()]
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            self._execute(f"UPDATE flow_runs SET state = ?, end_time = ? WHERE id IN ({marks})",
                          ["Lost", now_iso(), *ids])
            return self._runs_where(f"id IN ({marks})", ids, "ORDER BY created_at")

    def get_run(self, run_id: str) -> FlowRun:
        wanted = run_id.strip().lower()
        found = self._runs_where("id = ?", (wanted,))
        if not found and len(wanted) >= 8 and all(c in "0123456789abcdef-" for c in wanted):
            found = self._runs_where("id LIKE ?", (wanted + "%",), "LIMIT 2")
        if len(found) > 1:
            raise FlowimgError(f"the run id prefix '{run_id}' matches several runs; "
                               "give more of the id, as `flowimg runs list` shows it")
        if not found:
            raise FlowimgError(f"no flow run '{run_id}' in the registry ({self.location}); "
                               "see the run ids with `flowimg runs list`")
        return found[0]

    def list_runs(self, *, project: Optional[str] = None, flow: Optional[str] = None,
                  state: Optional[str] = None, limit: int = 50) -> List[FlowRun]:
        if state is not None:
            _check_state(state)
        where: List[str] = ["1 = 1"]
        params: List[Any] = []
        for column, value in (("project", project), ("flow", flow), ("state", state)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return self._runs_where(" AND ".join(where), params + [limit],
                                "ORDER BY COALESCE(scheduled_time, created_at) DESC, created_at DESC, id LIMIT ?")

    def cancel_run(self, run_id: str) -> FlowRun:
        run = self.get_run(run_id)
        cancelled = self.update_run(run.id, expect=ACTIVE, state="Cancelled", end_time=now_iso())
        if cancelled is None:
            raise FlowimgError(
                f"flow run {run.id} already ended ({self.get_run(run.id).state}); only {', '.join(ACTIVE)} runs "
                "can be cancelled: pick one from `flowimg runs list --state Running`"
            )
        return cancelled

    def replace_scheduled_runs(self, version: FlowVersion, times: Sequence[str], *, after: str) -> int:
        from ..scheduling import schedule_of, slots_at

        # The per-flow lock keeps ensure_scheduled from adding runs of the schedule being replaced.
        with self._write("schedule", version.project, version.name):
            self._execute("DELETE FROM flow_runs WHERE project = ? AND flow = ? AND state = ? AND scheduled_time > ?",
                          (version.project, version.name, SCHEDULED, after))
            if not self._is_active(version.project, version.name):
                return 0
            return self._insert_slots(version, slots_at(schedule_of(version), times, parse_iso(after)))

    def _insert_slots(self, version: FlowVersion, slots: Sequence[Slot]) -> int:
        # Without a clock's parameter defaults, scheduled runs take the flow's own when they start.
        now = now_iso()
        return sum(
            self._insert_run(replace(
                _new_run(version, parameters=slot.parameters, state=SCHEDULED, scheduled_time=slot.time, target="",
                         attempt=1, now=now, idempotency_key=slot_key(version.project, version.name, slot.time)),
                labels=version.labels if slot.labels is None else slot.labels))
            for slot in slots
        )

    def ensure_scheduled(self, *, now: str, horizon_seconds: float, max_runs: int = 10) -> int:
        from ..scheduling import next_slots, schedule_of

        start = parse_iso(now)
        until = iso(start + timedelta(seconds=horizon_seconds))
        inserted = 0
        for latest in self.list_flows():
            if schedule_of(latest) is None:
                continue
            with self._write("schedule", latest.project, latest.name):
                # Read again under the lock: a registration may have replaced the schedule meanwhile.
                version = self._latest(latest.project, latest.name)
                schedule = schedule_of(version) if version is not None else None
                if version is None or schedule is None or not self._is_active(version.project, version.name):
                    continue
                try:
                    slots = next_slots(schedule, start, max_runs)
                except ScheduleError:  # e.g. a filter function not importable here: that flow only
                    continue
                inserted += self._insert_slots(version, [slot for slot in slots if slot.time <= until])
        return inserted

    def _is_active(self, project: str, flow: str) -> bool:
        row = self._execute("SELECT active FROM flow_schedules WHERE project = ? AND flow = ?",
                            (project, flow)).fetchone()
        return row is None or bool(row[0])

    def set_schedule_active(self, project: str, flow: str, active: bool) -> None:
        self._execute(
            "INSERT INTO flow_schedules (project, flow, active) VALUES (?, ?, ?) "
            "ON CONFLICT (project, flow) DO UPDATE SET active = excluded.active",
            (project, flow, int(active)),
        )

    def schedule_active(self, project: str, flow: str) -> bool:
        return self._is_active(project, flow)


def _check_state(state: str) -> None:
    if state not in STATES:
        raise FlowimgError(f"unknown run state '{state}'; use one of {', '.join(STATES)}")


def _new_run(version: FlowVersion, *, parameters: dict, state: str, scheduled_time: Optional[str], target: str,
             attempt: int, idempotency_key: Optional[str], now: str) -> FlowRun:
    return FlowRun(
        id=str(uuid.uuid4()), version_id=version.id, project=version.project, flow=version.name,
        version=version.version, parameters=parameters, state=state, scheduled_time=scheduled_time,
        start_time=now if state == RUNNING else None, end_time=None, target=target, image="", node="",
        exit_code=None, log_tail=[], agent="", heartbeat=None, attempt=attempt, labels=list(version.labels),
        created_at=now, idempotency_key=idempotency_key,
    )
