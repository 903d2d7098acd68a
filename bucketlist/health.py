"""Readiness: does the database answer within a second?

The probe has a connection of its own (a pool connection could be busy or broken mid-request)
and runs on a thread of its own, so the wait is bounded by the clock, not by the driver:
libpq waits at least 2 s to connect, and a TCP connection to a host that went away can hang
far longer. A probe that finds a check still running waits for that one instead of
queueing another behind it.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import psycopg2

from .config import Settings

TIMEOUT_SECONDS = 1.0
_FAILURES = (psycopg2.Error, sqlite3.Error)


class ReadinessProbe:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bucketlist-probe")
        self._lock = threading.Lock()
        self._running: Future[bool] | None = None
        self._connection: Any = None

    def database_answers(self) -> bool:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._executor.submit(self._check)
            running = self._running
        try:
            return running.result(timeout=TIMEOUT_SECONDS)
        except FutureTimeout:
            return False

    def _check(self) -> bool:
        # A connection kept from an earlier probe may have been dropped (a database restart):
        # one more try on a new one before calling the database unavailable.
        for _attempt in range(1 if self._connection is None else 2):
            try:
                connection = self._connection or self._connect()
                cursor = connection.cursor()
                try:
                    cursor.execute("SELECT 1")
                    cursor.fetchone()
                finally:
                    cursor.close()
                return True
            except _FAILURES:
                self.close()
        return False

    def _connect(self) -> Any:
        if self._settings.is_sqlite:
            # mode=rw: a missing database file is not ready (connect would create an empty one).
            connection = sqlite3.connect(
                Path(self._settings.sqlite_path()).as_uri() + "?mode=rw",
                uri=True,
                timeout=TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            connection = psycopg2.connect(
                **self._settings.postgres_params(),
                connect_timeout=2,  # libpq's least; the caller stops waiting after 1 s anyway
                options=f"-c statement_timeout={int(TIMEOUT_SECONDS * 1000)}",
                application_name="bucketlist-probe",
            )
            connection.autocommit = True
        self._connection = connection
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except _FAILURES:
                pass
