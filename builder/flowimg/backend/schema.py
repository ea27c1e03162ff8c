"""The registry's schema, its version and the forward migrations from every released version.

Version 1 is the first backend (projects, flow_versions); version 2 added flow_versions.source.
Databases made before the version table existed are recognised by their columns.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple

from ..errors import FlowimgError

SCHEMA_VERSION = 2
VERSION_TABLE = "flowimg_schema"

# Text columns for JSON keep one schema and one set of queries valid on both databases.
TABLES = (
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
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)",
)

# MIGRATIONS[n] takes a database from version n - 1 to version n.
MIGRATIONS: Dict[int, Tuple[str, ...]] = {
    2: ("ALTER TABLE flow_versions ADD COLUMN source TEXT NOT NULL DEFAULT ''",),
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
