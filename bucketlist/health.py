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

import psycopg2

from .config import Settings
from .connections import OwnConnection

TIMEOUT_SECONDS = 1.0
_FAILURES = (psycopg2.Error, sqlite3.Error)


class ReadinessProbe:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bucketlist-probe")
        self._lock = threading.Lock()
        self._running: Future[bool] | None = None
        # mode=rw on SQLite: a missing database file is not ready (connect would create one).
        self._connection = OwnConnection(settings, timeout=TIMEOUT_SECONDS, name="probe", must_exist=True)

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
        # it is tried once more on a new one before calling the database unavailable.
        try:
            return self._connection.fetchone("SELECT 1") == (1,)
        except _FAILURES:
            return False

    def close(self) -> None:
        self._connection.close()
