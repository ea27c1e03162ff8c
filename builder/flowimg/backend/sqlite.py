"""The default registry: one SQLite file, shared safely by every flowimg process on the machine."""
from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager

from ..errors import FlowimgError
from .base import SQLBackend

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator, Sequence

# Long enough to outwait any other registration; SQLite's own busy handler does the retrying.
BUSY_TIMEOUT_SECONDS = 60.0


class SQLiteBackend(SQLBackend):
    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.location = f"sqlite://{self.path}"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            # Autocommit (isolation_level=None): transactions are only the explicit ones in _write.
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._create_schema()
        except (OSError, sqlite3.Error) as exc:
            raise FlowimgError(
                f"cannot open the flow registry {self.path}: {exc}; "
                "check that the folder is writable, or point FLOWIMG_BACKEND/--backend elsewhere"
            ) from None

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    @contextmanager
    def _write(self, *key: str) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock before reading, so two registrations of the same
        # flow can never both see the same latest version (and never deadlock upgrading a read lock).
        self._execute("BEGIN IMMEDIATE")
        try:
            yield
            self._execute("COMMIT")
        except BaseException:
            self._conn.rollback()
            raise

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # SQLite has one writer at a time: a claim in BEGIN IMMEDIATE is alone by construction.
        with self._write():
            yield

    def _labels_within(self, column: str) -> str:
        return (f"NOT EXISTS (SELECT 1 FROM json_each({column}) l "
                "WHERE l.value NOT IN (SELECT a.value FROM json_each(?) a))")

    def _tables(self) -> list[str]:
        return [row[0] for row in self._execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]

    def _columns(self, table: str) -> list[str]:
        return [row[1] for row in self._execute(f"PRAGMA table_info({table})").fetchall()]

    def _error(self, exc: sqlite3.Error) -> FlowimgError:
        if "locked" in str(exc) or "busy" in str(exc):
            return FlowimgError(
                f"the flow registry {self.path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_SECONDS:.0f} s; try again when it has finished"
            )
        return FlowimgError(f"the flow registry {self.path} failed: {exc}")

    def close(self) -> None:
        self._conn.close()
