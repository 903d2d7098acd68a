"""DB-API connections for single statements outside Pony's sessions, each with bounded waits.

The rate-limit store and the readiness probe each keep one connection per process, outside
Pony (a Pony session and a hop to a thread cost several times their one indexed statement),
in autocommit, with short timeouts: a database that stops answering costs a bounded wait and
an error (a 503), never a hang. The export opens one per request. The token check, on
PostgreSQL, borrows the connection Pony keeps for the thread instead (BorrowedConnection), so
that a request uses one backend, not two.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg2

from .adaptations import borrowed_connection, drop_borrowed_connection
from .config import Settings

T = TypeVar("T")
# What a dropped or unreachable database raises, through either driver.
LOST = (psycopg2.OperationalError, psycopg2.InterfaceError, sqlite3.OperationalError)
# libpq rounds a connect_timeout below 2 seconds up to 2.
LEAST_CONNECT_TIMEOUT = 2


def connect(settings: Settings, *, timeout: float, name: str, must_exist: bool = False) -> Any:
    """A new connection in autocommit; `timeout` bounds the connect and each statement.

    `must_exist` (SQLite): a missing database file is an error, not a new empty database.
    """
    if settings.is_sqlite:
        target, uri = settings.sqlite_path(), False
        if must_exist:
            target, uri = Path(target).as_uri() + "?mode=rw", True
        return sqlite3.connect(
            target, uri=uri, timeout=timeout, isolation_level=None, check_same_thread=False
        )
    connection = psycopg2.connect(
        **settings.postgres_params(),
        connect_timeout=max(LEAST_CONNECT_TIMEOUT, math.ceil(timeout)),
        options=f"-c statement_timeout={int(timeout * 1000)}",
        application_name=f"bucketlist-{name}",
    )
    connection.autocommit = True
    return connection


def close_quietly(connection: Any) -> None:
    if connection is not None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - it is being thrown away either way
            pass


def fetchone(connection: Any, sql: str, params: tuple) -> tuple | None:
    """The first row of one statement on a DB-API connection."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchone()
    finally:
        cursor.close()


class OwnConnection:
    """One such connection per process, opened on first use and used under a lock."""

    def __init__(self, settings: Settings, *, timeout: float, name: str, must_exist: bool = False) -> None:
        self._settings = settings
        self._options = {"timeout": timeout, "name": name, "must_exist": must_exist}
        self._connection: Any = None
        self._lock = threading.Lock()

    def run(self, work: Callable[[Any], T]) -> T:
        """`work(connection)`; a connection found dropped is replaced and `work` tried once more.

        Only a connection found dropped had run nothing, so only then is a second try safe; a
        statement that failed or timed out is not tried again. The driver's error surfaces.
        """
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._connection is None:
                        self._connection = connect(self._settings, **self._options)
                    return work(self._connection)
                except LOST:
                    dropped = self._connection is None or getattr(self._connection, "closed", 0)
                    self.close()
                    if attempt == 2 or not dropped:
                        raise
        raise AssertionError("unreachable")

    def fetchone(self, sql: str, params: tuple = ()) -> tuple | None:
        return self.run(lambda connection: fetchone(connection, sql, params))

    @property
    def placeholder(self) -> str:
        return "?" if self._settings.is_sqlite else "%s"

    def close(self) -> None:
        connection, self._connection = self._connection, None
        close_quietly(connection)


class BorrowedConnection:
    """Statements on the thread's Pony connection, between its sessions, in autocommit.

    For a statement that runs on every request just before the handler's session on the same
    thread (the token check): one PostgreSQL backend serves both. Its waits are the Pony
    connection's bounds (`bind_database`: a lock timeout and a statement timeout). Should a
    session be open on the thread, or the connection be mid-transaction for any reason, the
    statement goes to `fallback` instead, a connection of its own, as it did before.
    """

    def __init__(self, db: Any, fallback: OwnConnection) -> None:
        self._db = db
        self._fallback = fallback

    def fetchone(self, sql: str, params: tuple = ()) -> tuple | None:
        for attempt in (1, 2):
            connection = borrowed_connection(self._db)
            if connection.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                return self._fallback.fetchone(sql, params)
            if not connection.autocommit:
                connection.autocommit = True  # idle: no round trip; a session sets its own mode
            try:
                return fetchone(connection, sql, params)
            except LOST:
                # Only a connection found dropped had run nothing, so only then is a second
                # try safe (as OwnConnection.run); either way a broken one is not kept.
                dropped = bool(connection.closed)
                if dropped:
                    drop_borrowed_connection(self._db, connection)
                if attempt == 2 or not dropped:
                    raise
        raise AssertionError("unreachable")

    @property
    def placeholder(self) -> str:
        return "%s"

    def close(self) -> None:
        self._fallback.close()
