"""The database half of the bearer check: is this token's user there, and the token still good?

It runs for every protected request, before validation, on the event loop (connexion calls
the bearer function there). Handing it to a thread pool and a Pony session cost several
times the query itself (one indexed row), so it has a plain DB-API connection of its own,
one per process, with short timeouts: a database that stops answering costs a bounded wait
and a 503, never a hang.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import psycopg2

from .config import Settings
from .errors import RETRY_AFTER_SECONDS, UNAVAILABLE, ApiError

TIMEOUT_SECONDS = 2
STANDING_SQL = (
    "SELECT token_version, EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = {mark})"
    " FROM users WHERE id = {mark}"
)
_LOST = (psycopg2.OperationalError, psycopg2.InterfaceError, sqlite3.OperationalError)


class RevocationCheck:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sql = STANDING_SQL.format(mark="?" if settings.is_sqlite else "%s")
        self._connection: Any = None
        self._lock = threading.Lock()

    def standing(self, user_id: int, jti: str) -> tuple[int, bool] | None:
        """(token_version, revoked) for the user, or None if there is no such user."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    connection = self._connection or self._connect()
                    cursor = connection.cursor()
                    try:
                        cursor.execute(self._sql, (jti, user_id))
                        row = cursor.fetchone()
                    finally:
                        cursor.close()
                    return None if row is None else (row[0], bool(row[1]))
                except _LOST as exc:
                    dropped = self._connection is None or getattr(self._connection, "closed", 0)
                    self.close()
                    # A read in autocommit: after a dropped connection, one more try on a new one
                    # is safe. A statement that timed out is not tried again.
                    if attempt == 2 or not dropped:
                        raise ApiError(
                            503, UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
                        ) from exc
        raise AssertionError("unreachable")

    def _connect(self) -> Any:
        if self._settings.is_sqlite:
            connection = sqlite3.connect(
                self._settings.sqlite_path(),
                timeout=TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            connection = psycopg2.connect(
                **self._settings.postgres_params(),
                connect_timeout=TIMEOUT_SECONDS,
                options=f"-c statement_timeout={TIMEOUT_SECONDS * 1000}",
                application_name="bucketlist-auth",
            )
            connection.autocommit = True
        self._connection = connection
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - it is being thrown away either way
                pass
