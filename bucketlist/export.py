"""`GET /v1/account/export`: every bucket of a user with its items, as one streamed JSON document.

The document is written a chunk at a time, each chunk one keyset-paged read of at most
`CHUNK_ROWS` rows, so memory stays flat whatever the size (measured in the README). The
reads run on a DB-API connection of the export's own, in one read-only snapshot (REPEATABLE
READ on PostgreSQL, a read transaction on SQLite's WAL), so the document is consistent while
other requests write. Not Pony's: its sessions belong to a thread, and between two chunks the
worker serves other requests on the same thread (`bucketlist.wsgi` produces each chunk in a
turn of its own on the event loop).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg2

from .config import Settings
from .errors import INVALID_TOKEN, Unauthorized, unavailable
from .shapes import BUCKET, ITEM

CHUNK_ROWS = 250
KEYSET = " AND (created_at, id) > ({p}, {p})"
CONNECT_TIMEOUT_SECONDS = 5
# Each statement reads one chunk; a stuck database ends the export instead of hanging it.
STATEMENT_TIMEOUT_MS = 10_000
_LOST = (psycopg2.OperationalError, psycopg2.InterfaceError, sqlite3.OperationalError)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Export:
    """An open snapshot of one user's data; `chunks()` writes the document and closes it."""

    def __init__(self, settings: Settings, user: int) -> None:
        self.user = user
        self.sqlite = settings.is_sqlite
        self.dialect = "SQLite" if self.sqlite else "PostgreSQL"
        try:
            self.connection = self._connect(settings)
        except _LOST as exc:
            raise unavailable() from exc
        try:
            found = self._select("SELECT email FROM users WHERE id = {p}", (user,))
        except _LOST as exc:
            self.close()
            raise unavailable() from exc
        if not found:
            self.close()
            raise Unauthorized(INVALID_TOKEN)  # the account was deleted meanwhile
        self.email = found[0][0]

    def _connect(self, settings: Settings) -> Any:
        if self.sqlite:
            # With handlers in a pool (BUCKETLIST_THREADS), chunks may be read by another thread
            # than the one that opened it; never by two at once.
            connection = sqlite3.connect(
                settings.sqlite_path(),
                timeout=CONNECT_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            # Deferred: the first read fixes the snapshot every later read of the export sees.
            connection.execute("BEGIN")
            return connection
        connection = psycopg2.connect(
            **settings.postgres_params(),
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c datestyle=ISO",
            application_name="bucketlist-export",
        )
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        return connection

    def _select(self, sql: str, args: tuple) -> list[tuple]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql.format(p="?" if self.sqlite else "%s"), args)
            return cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception:  # noqa: BLE001 - it is being thrown away either way
            pass

    def chunks(self) -> Iterator[bytes]:
        """The document, in chunks of about CHUNK_ROWS rows (each read is at most that many)."""
        try:
            out = [f'{{"status":"success","email":{_dumps(self.email)},"buckets":[']
            rows = 0
            for text, read in self._pieces():
                out.append(text)
                rows += read
                if rows >= CHUNK_ROWS:
                    yield "".join(out).encode()
                    out, rows = [], 0
            out.append("]}")
            yield "".join(out).encode()
        finally:
            self.close()

    def _pieces(self) -> Iterator[tuple[str, int]]:
        """(JSON text, rows it took to read): buckets in id order, each with its items oldest first."""
        bucket_columns = BUCKET.select_list(self.dialect)
        item_columns = ITEM.select_list(self.dialect)
        after_bucket = 0
        while True:
            buckets = self._select(
                f"SELECT {bucket_columns} FROM buckets WHERE owner_id = {{p}} AND id > {{p}}"
                f" ORDER BY id LIMIT {CHUNK_ROWS}",
                (self.user, after_bucket),
            )
            for row in buckets:
                comma = "," if after_bucket else ""
                after_bucket = row[0]
                yield comma + _dumps(BUCKET.render(row))[:-1] + ',"items":[', 1
                after_item: tuple | None = None
                while True:
                    # Keyset on the (bucket_id, created_at, id) index: every read costs the same.
                    keyset = "" if after_item is None else KEYSET
                    args = (row[0],) if after_item is None else (row[0], *after_item)
                    items = self._select(
                        f"SELECT {item_columns} FROM items WHERE bucket_id = {{p}}{keyset}"
                        f" ORDER BY created_at, id LIMIT {CHUNK_ROWS}",
                        args,
                    )
                    if items:
                        comma = "" if after_item is None else ","
                        yield comma + ",".join(_dumps(ITEM.render(item)) for item in items), len(items)
                        # The stored timestamp as text: created_at_text, the last but one column.
                        after_item = (items[-1][-2], items[-1][0])
                    if len(items) < CHUNK_ROWS:
                        break
                yield "]}", 0
            if len(buckets) < CHUNK_ROWS:
                return
