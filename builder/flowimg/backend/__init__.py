"""The flow registry. A URL picks the database, so the CLI and the API open it the same way."""
from __future__ import annotations

import os

from ..errors import FlowimgError
from ..home import flowimg_home
from .base import Backend, FlowVersion, metadata_hash

__all__ = ["Backend", "FlowVersion", "metadata_hash", "open_backend", "default_backend_url", "password_warning"]

ACCEPTED_FORMS = "sqlite:///ABSOLUTE/PATH.db or postgresql://USER@HOST:PORT/DATABASE"
# Names the flowimg secret that holds the PostgreSQL password, so no URL has to carry it.
PASSWORD_SECRET_ENV = "FLOWIMG_BACKEND_PASSWORD_SECRET"


def default_backend_url() -> str:
    """FLOWIMG_BACKEND when set, else a SQLite file under FLOWIMG_HOME."""
    return os.environ.get("FLOWIMG_BACKEND") or "sqlite://" + os.path.join(flowimg_home(), "flowimg.db")


def open_backend(url: str | None = None) -> Backend:
    url = url or default_backend_url()
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteBackend

        return SQLiteBackend(url[len("sqlite://"):])
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresBackend

        return PostgresBackend(url)
    scheme = url.split("://", 1)[0] if "://" in url else "a URL without a scheme"
    raise FlowimgError(
        f"unsupported flow registry URL ({scheme}); use {ACCEPTED_FORMS} in FLOWIMG_BACKEND or --backend"
    )


def password_warning(url: str | None) -> str | None:
    """One line for a password typed into a command-line URL, which `ps` shows to every user."""
    if not url or not url.startswith(("postgresql://", "postgres://")):
        return None
    from urllib.parse import urlsplit

    try:
        has_password = bool(urlsplit(url).password)
    except ValueError:
        has_password = False
    if not has_password:
        return None
    return (f"Warning: the --backend URL holds a password, which other users can see in `ps`; drop it from "
            f"the URL and use PGPASSWORD, PGPASSFILE (~/.pgpass) or {PASSWORD_SECRET_ENV}=SECRET_NAME")
