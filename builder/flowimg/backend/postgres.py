"""The team registry: PostgreSQL through psycopg 3, imported only when a postgresql:// URL is used."""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote, urlsplit

from ..errors import FlowimgError
from ..secrets import get_secret
from .base import SQLBackend

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator, Sequence

CONNECT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Target:
    """Where a URL points, for messages; the password is kept only to redact it."""

    host: str
    port: str
    dbname: str
    secrets: tuple[str, ...]

    def redact(self, text: str) -> str:
        """One line, with every spelling of the password replaced."""
        line = " ".join(text.split())
        for secret in sorted(self.secrets, key=len, reverse=True):
            line = line.replace(secret, "***")
        return line


def secret_password(url: str) -> str | None:
    """The password from the secret FLOWIMG_BACKEND_PASSWORD_SECRET names, when the URL has none.

    Without either, libpq's own PGPASSWORD / PGPASSFILE (~/.pgpass) apply.
    """
    from . import PASSWORD_SECRET_ENV

    name = os.environ.get(PASSWORD_SECRET_ENV)
    if not name:
        return None
    try:
        in_url = bool(urlsplit(url).password)
    except ValueError:
        in_url = False
    if in_url:
        raise FlowimgError(f"the PostgreSQL URL holds a password and {PASSWORD_SECRET_ENV} names a secret: "
                           "drop the password from the URL")
    try:
        return get_secret(name)
    except FlowimgError as exc:
        raise FlowimgError(f"{PASSWORD_SECRET_ENV}={name}: {exc}") from None


def parse_target(url: str, password: str | None = None) -> Target:
    info: dict[str, Any] = {}
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(url)
    except Exception:  # a malformed URL: fall back to what urlsplit can still read
        pass
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # the message names the fault, never the URL (it may hold a password)
        raise FlowimgError(
            f"the PostgreSQL registry URL is malformed ({exc}); write it as postgresql://USER@HOST:PORT/DATABASE"
        ) from None
    try:
        url_port = str(parts.port or "")
    except ValueError:
        url_port = ""
    raw = parts.password or ""
    passwords = {raw, unquote(raw), str(info.get("password") or ""), password or ""}
    secrets = {s for p in passwords if p for s in (p, quote(p, safe=""), quote_plus(p))}
    return Target(
        host=str(info.get("host") or parts.hostname or "localhost"),
        port=str(info.get("port") or url_port or "5432"),
        dbname=str(info.get("dbname") or parts.path.lstrip("/") or info.get("user") or parts.username or "postgres"),
        secrets=tuple(secrets),
    )


def _lock_id(key: Sequence[str]) -> int:
    """A stable signed 64-bit advisory lock id for a key (project and flow name, or the schema)."""
    digest = hashlib.sha256("\0".join(("flowimg",) + tuple(key)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresBackend(SQLBackend):
    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise FlowimgError("PostgreSQL needs the postgres extra: pip install 'flowimg[postgres]'") from None
        self._driver_error = psycopg.Error
        options: dict[str, Any] = {} if "connect_timeout" in url else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        password = secret_password(url)
        self.target = parse_target(url, password)
        self.location = f"postgresql://{self.target.host}:{self.target.port}/{self.target.dbname}"
        if password is not None:
            options["password"] = password
        try:
            # Autocommit: reads need no transaction; writes open one explicitly in _write.
            self._conn = psycopg.connect(url, autocommit=True, **options)
        except psycopg.Error as exc:
            raise self._error("cannot connect to", exc) from None
        try:
            self._create_schema()
        except BaseException:
            self._conn.close()
            raise

    def _error(self, doing: str, exc: BaseException) -> FlowimgError:
        # `from None` at every raise: the driver's exception must not carry the URL into a traceback.
        return FlowimgError(
            f"{doing} the PostgreSQL flow registry at {self.target.host}:{self.target.port}, "
            f"database '{self.target.dbname}': {self.target.redact(str(exc))}; check FLOWIMG_BACKEND or --backend"
        )

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self._conn.execute(sql.replace("?", "%s"), params)
        except self._driver_error as exc:
            raise self._error("a query failed on", exc) from None

    @contextmanager
    def _write(self, *key: str) -> Iterator[None]:
        # The advisory lock serialises writers of one flow (or of the schema) until commit,
        # so concurrent registrations of the same change make exactly one new version.
        with self._transaction():
            self._execute("SELECT pg_advisory_xact_lock(?)", (_lock_id(key),))
            yield

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            with self._conn.transaction():
                yield
        except self._driver_error as exc:
            raise self._error("a transaction failed on", exc) from None

    # Concurrent claims each take rows no other transaction holds, instead of waiting for them.
    _lock_rows = " FOR UPDATE SKIP LOCKED"

    def _labels_within(self, column: str) -> str:
        return f"{column}::jsonb <@ ?::jsonb"

    def _tables(self) -> list[str]:
        return [row[0] for row in self._execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()]

    def _columns(self, table: str) -> list[str]:
        return [row[0] for row in self._execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ?", (table,)).fetchall()]

    def close(self) -> None:
        self._conn.close()
