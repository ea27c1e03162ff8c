"""SQLite tasks: one parametrised statement returning its rows, or a whole script."""
from __future__ import annotations

import sqlite3
from contextlib import closing

from ...core.task import Task
from ...utilities.tasks import defaults_from_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple


class SQLiteQuery(Task):
    """Runs a single statement (with `?` placeholders filled from `data`) and returns fetchall().
    As in Prefect, nothing is committed: use SQLiteScript for statements that change the file."""

    def __init__(self, db: Optional[str] = None, query: Optional[str] = None, data: Tuple = (),
                 **kwargs: Any) -> None:
        self.db, self.query, self.data = db, query, data
        super().__init__(**kwargs)

    @defaults_from_attrs("db", "query", "data")
    def run(self, db: Optional[str] = None, query: Optional[str] = None, data: Tuple = ()) -> List[tuple]:
        if db is None:
            raise ValueError("The db must be specified")
        if query is None:
            raise ValueError("The query string must be specified")
        if "?" in query and not data:
            raise ValueError("The data inputs must be specified as a tuple if query contains "
                             "parametrized values '?'")
        with closing(sqlite3.connect(db)) as conn, closing(conn.cursor()) as cursor:
            cursor.execute(query, data)
            return cursor.fetchall()


class SQLiteScript(Task):
    """Runs a script of statements (executescript commits them); returns None."""

    def __init__(self, db: Optional[str] = None, script: Optional[str] = None, **kwargs: Any) -> None:
        self.db, self.script = db, script
        super().__init__(**kwargs)

    @defaults_from_attrs("db", "script")
    def run(self, db: Optional[str] = None, script: Optional[str] = None) -> None:
        if db is None:
            raise ValueError("The db must be specified")
        if script is None:
            raise ValueError("The query script string must be specified")
        with closing(sqlite3.connect(db)) as conn, closing(conn.cursor()) as cursor:
            cursor.executescript(script)
