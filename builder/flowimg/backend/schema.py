"""The registry's schema, its version and the forward migrations from every released version.

Version 1 is the first backend (projects, flow_versions); version 2 added flow_versions.source;
version 3 added flow runs and schedule switches (flow_runs, flow_schedules).
Databases made before the version table existed are recognised by their columns.
"""
from __future__ import annotations


from ..errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, Optional, Sequence, Tuple

SCHEMA_VERSION = 3
VERSION_TABLE = "flowimg_schema"

# Text columns for JSON keep one schema and one set of queries valid on both databases.
REGISTRY_TABLES = (
    """CREATE TABLE IF NOT EXISTS projects (
        name TEXT PRIMARY KEY,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS flow_versions (
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
        source TEXT NOT NULL DEFAULT '',
        UNIQUE (project, name, version)
    )""",
)

# Version 3: one row per flow run (labels copied from the version, so claims need no join) and
# the pause switch of each scheduled flow.
RUN_TABLES = (
    """CREATE TABLE IF NOT EXISTS flow_runs (
        id TEXT PRIMARY KEY,
        version_id TEXT NOT NULL REFERENCES flow_versions (id),
        project TEXT NOT NULL,
        flow TEXT NOT NULL,
        version INTEGER NOT NULL,
        parameters TEXT NOT NULL,
        state TEXT NOT NULL,
        scheduled_time TEXT,
        start_time TEXT,
        end_time TEXT,
        target TEXT NOT NULL,
        image TEXT NOT NULL,
        node TEXT NOT NULL,
        exit_code INTEGER,
        log_tail TEXT NOT NULL,
        agent TEXT NOT NULL,
        heartbeat TEXT,
        attempt INTEGER NOT NULL,
        labels TEXT NOT NULL,
        created_at TEXT NOT NULL,
        idempotency_key TEXT UNIQUE
    )""",
    "CREATE INDEX IF NOT EXISTS flow_runs_due ON flow_runs (state, scheduled_time)",
    "CREATE INDEX IF NOT EXISTS flow_runs_flow ON flow_runs (project, flow)",
    """CREATE TABLE IF NOT EXISTS flow_schedules (
        project TEXT NOT NULL,
        flow TEXT NOT NULL,
        active INTEGER NOT NULL,
        PRIMARY KEY (project, flow)
    )""",
)

# The version table comes last: an older database creates only it before migrating.
TABLES = REGISTRY_TABLES + RUN_TABLES + (f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)",)

# MIGRATIONS[n] takes a database from version n - 1 to version n.
MIGRATIONS: Dict[int, Tuple[str, ...]] = {
    2: ("ALTER TABLE flow_versions ADD COLUMN source TEXT NOT NULL DEFAULT ''",),
    3: RUN_TABLES,
}


def unversioned(tables: Sequence[str], columns: Callable[[str], Sequence[str]]) -> Optional[int]:
    """The version of a database from before the version table: None when it holds no registry yet."""
    if "flow_versions" not in tables:
        return None
    return 2 if "source" in columns("flow_versions") else 1


def check_supported(version: int, location: str) -> None:
    if version > SCHEMA_VERSION:
        raise FlowimgError(
            f"the flow registry {location} has schema version {version}, newer than this flowimg knows "
            f"({SCHEMA_VERSION}); upgrade flowimg (pip install -U flowimg)"
        )
