"""A real PostgreSQL server for the tests: Debian's binaries, a temporary cluster, loopback only.

Postgres refuses to run as root, so the cluster belongs to the `postgres` system user. The test
role logs in over TCP with a password (so tests can check it never leaks); the superuser reaches
the server only through the socket in the cluster's private folder. Only this cluster is stopped,
by its own data folder.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pytest

from ports import free_port

TEST_USER = "flowimg_test"


@dataclass(frozen=True)
class PostgresServer:
    bin_dir: str
    root: str  # the temporary folder: data/, the log and the unix socket
    port: int
    password: str

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")

    def url(self, dbname: str = "flowimg", password: str | None = None) -> str:
        return f"postgresql://{TEST_USER}:{self.password if password is None else password}@127.0.0.1:{self.port}/{dbname}"

    def admin_sql(self, sql: str) -> None:
        """Run one statement as the superuser, over the private socket."""
        import psycopg

        with psycopg.connect(host=self.root, port=self.port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        """Stop this server alone (pg_ctl finds its postmaster by the data folder's PID file); data stays."""
        stopped = _as_postgres(f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop")
        assert stopped.returncode == 0, stopped.stderr

    def start(self) -> subprocess.CompletedProcess:
        """Start it (again) on its port, loopback only."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=50"
        return _as_postgres(
            f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, "-l", f"{self.root}/server.log", "-w", "-t", "60", "-o", options, "start"
        )


def _bin_dir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail(
            "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin; "
            "run scripts/services.sh (it installs Debian's postgresql package)",
            pytrace=False,
        )
    return os.path.dirname(found[-1])


def _as_postgres(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True)


def _start(bin_dir: str) -> PostgresServer:
    root = tempfile.mkdtemp(prefix="flowimg-pg-", dir="/tmp")
    postgres = pwd.getpwnam("postgres")
    os.chown(root, postgres.pw_uid, postgres.pw_gid)
    server = PostgresServer(bin_dir, root, 0, "pw-" + secrets.token_hex(12))
    init = _as_postgres(
        f"{bin_dir}/initdb", "-D", server.data_dir, "-U", "postgres", "--no-sync",
        "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C",
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr.strip()}", pytrace=False)
    for _ in range(5):  # a free port can be taken between asking and listening: try another
        server = PostgresServer(bin_dir, root, free_port(), server.password)
        started = server.start()
        if started.returncode == 0:
            break
    else:
        log = open(f"{root}/server.log").read()[-2000:] if os.path.exists(f"{root}/server.log") else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {started.stderr.strip()} {log}", pytrace=False)
    return server


def _stop(server: PostgresServer) -> None:
    _as_postgres(f"{server.bin_dir}/pg_ctl", "-D", server.data_dir, "-m", "fast", "-w", "stop")
    shutil.rmtree(server.root, ignore_errors=True)


@contextmanager
def running_server() -> Iterator[PostgresServer]:
    """A new server with the test role and its database `flowimg`; stopped and removed afterwards."""
    server = _start(_bin_dir())
    try:
        server.admin_sql(f"CREATE ROLE {TEST_USER} LOGIN CREATEDB PASSWORD '{server.password}'")
        server.admin_sql(f"CREATE DATABASE flowimg OWNER {TEST_USER}")
        yield server
    finally:
        _stop(server)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A server for one test alone, which it may stop and start again (an outage)."""
    with running_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A URL (with the test user's password) to the database `flowimg` on the session's server."""
    return postgres_server.url()


@pytest.fixture
def postgres_database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL to a fresh, empty database for one test, dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:16]
    postgres_server.admin_sql(f"CREATE DATABASE {name} OWNER {TEST_USER}")
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
