"""Database tasks (Prefect's `prefect.tasks.database` path): SQLite through the standard library."""
from .sqlite import SQLiteQuery, SQLiteScript

__all__ = ["SQLiteQuery", "SQLiteScript"]
