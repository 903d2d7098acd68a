"""What changed for a user, and when: the record every write keeps, and the sync pages read from it.

The design, and why it gives an exact delta with no visibility gap on both databases:

- Every write transaction of a user starts with `begin_write`: `UPDATE users SET change_seq =
  change_seq + 1 ... RETURNING change_seq`. The row lock it takes is held to the commit, so the
  user's writes take turns and their counts are handed out in commit order: a snapshot that
  sees count N sees every count below it. (A timestamp or a global sequence would not do: a
  transaction stamped before a token was issued can commit after it, and a client syncing
  meanwhile would step over it for good.) Taking this lock first, before any bucket row, also
  gives every write of a user the same lock order, so an account deletion racing a create
  cannot deadlock: one of them simply waits.
- `record` upserts one row per resource in `changes` (kind, id, count, deleted flag): a
  resource changed twice is listed once, with its last state, and a deleted one keeps its row
  as the tombstone. A bucket's deletion drops its items' rows: the bucket's id implies them.
- A sync page is one range scan of the index (user_id, seq, kind, resource_id) after the
  token's position, joined to the live rows in the same statement (one snapshot): its cost
  follows the changes, not the data. The token carries the (seq, kind, id) of the last row
  returned, so `limit` can cut between rows written by one transaction (a seeded bulk insert
  is one count for 100,000 rows). A sync with no token also notes the count it started from
  (its horizon): tombstones up to it are of things the client never had, and are skipped.
- Tombstones older than `RETENTION` are purged when the user next deletes something, in that
  write's transaction; `users.sync_floor` keeps the highest count purged, and a token below
  it (that could have missed a purged deletion) is answered 410.
- Tokens are HMAC-signed with a key derived from the service's secret and bound to the user:
  a changed byte, or another user's token, is a 400.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pony.orm import Database
from pony.orm.dbapiprovider import wrap_dbapi_exceptions

from .errors import INVALID_TOKEN, ApiError, Unauthorized
from .listing import select
from .models import utcnow
from .shapes import BUCKET as BUCKET_SHAPE
from .shapes import ITEM as ITEM_SHAPE
from .shapes import TIMESTAMP, Shape
from .signing import Signer

BUCKET, ITEM = 1, 2
KINDS = {BUCKET: "buckets", ITEM: "items"}
# Deletions are remembered at least this long (the contract promises 30 days).
RETENTION = timedelta(days=30)
DEFAULT_LIMIT = 100
INVALID_SYNC_TOKEN = "Invalid sync token"
EXPIRED_SYNC_TOKEN = "Sync token expired, fetch everything again"
TOKEN_PURPOSE = b"bucketlist sync token v1"


# --- recording ---------------------------------------------------------------------------


def run(db: Database, sql: str, args: dict[str, Any]) -> list[tuple]:
    """A statement inside the session's write transaction (BEGIN IMMEDIATE on SQLite).

    Sent on the transaction's own driver cursor (`Database.get_connection`, which begins the
    transaction as `Database.execute` would), with the `$name` parameters written once per
    statement in the driver's style: `Database.execute` evaluates them as Python expressions
    and keeps statistics of every statement, about 10 µs a statement, three of them inside
    the user's row lock on every write. Driver errors are wrapped as Pony wraps them."""
    cursor = db.get_connection().cursor()
    _execute(db.provider, cursor, _driver_sql(sql, db.provider.paramstyle), args)
    return cursor.fetchall() if cursor.description else []


@wrap_dbapi_exceptions
def _execute(provider: Any, cursor: Any, sql: str, args: dict[str, Any]) -> None:
    cursor.execute(sql, args)


_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@functools.lru_cache(maxsize=512)
def _driver_sql(sql: str, paramstyle: str) -> str:
    """`$name` as the driver names a parameter: `%(name)s` (psycopg2), `:name` (sqlite3)."""
    if paramstyle == "pyformat":
        return _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))
    return _PARAMETER.sub(r":\1", sql)


def begin_write(db: Database, user: int) -> int:
    """Lock the user's row for this transaction and take the next change count.

    The first statement of every write of a user's data. No row: the account was deleted
    while this request was on its way, and its token is no longer good.

    Sent through `Database.execute`, not `run`: as the transaction's first statement it may
    still find the pooled connection dropped (a restarted database), and then Pony connects
    again and sends it there, which `run` cannot (it has begun the transaction already)."""
    sql = "UPDATE users SET change_seq = change_seq + 1 WHERE id = $user RETURNING change_seq"
    rows = db.execute(sql, {"user": user}).fetchall()
    if not rows:
        raise Unauthorized(INVALID_TOKEN)
    return rows[0][0]


def record(
    db: Database, user: int, seq: int, kind: int, resource_id: int, bucket_id: int, *, deleted: bool = False
) -> None:
    """Note that this bucket or item changed (or is gone) at `seq`, taken by `begin_write`."""
    now = utcnow()
    args = {"user": user, "seq": seq, "kind": kind, "id": resource_id, "bucket": bucket_id}
    if kind == BUCKET and deleted:
        # Its items are implied by the bucket's tombstone, whatever happened to them before.
        run(db, "DELETE FROM changes WHERE bucket_id = $bucket AND kind = 2", args)
    run(
        db,
        "INSERT INTO changes (kind, resource_id, user_id, bucket_id, seq, deleted, changed_at)"
        " VALUES ($kind, $id, $user, $bucket, $seq, $deleted, $now)"
        " ON CONFLICT (kind, resource_id) DO UPDATE"
        " SET seq = excluded.seq, deleted = excluded.deleted, changed_at = excluded.changed_at",
        {**args, "deleted": deleted, "now": stamp(db, now)},
    )
    if deleted:
        purge_tombstones(db, user, now - RETENTION)


def purge_tombstones(db: Database, user: int, before: datetime) -> None:
    """Forget the user's deletions older than `before`; tokens that could miss them get 410."""
    purged = run(
        db,
        "DELETE FROM changes WHERE user_id = $user AND deleted AND changed_at < $before RETURNING seq",
        {"user": user, "before": stamp(db, before)},
    )
    if purged:
        floor = max(seq for (seq,) in purged)
        run(
            db,
            "UPDATE users SET sync_floor = $floor WHERE id = $user AND sync_floor < $floor",
            {"user": user, "floor": floor},
        )


def record_bulk(db: Database, user: int, seq: int, *, deleted: bool) -> None:
    """After rows were inserted (and, if `deleted`, deleted) in bulk, outside `record`
    (tools/dummy.py): bring the user's change rows in line with the data, set-based, all at
    `seq` from `begin_write`. New rows are recorded; those already recorded keep their count."""
    args = {"user": user, "seq": seq, "now": stamp(db, utcnow())}
    live = "SELECT id FROM buckets WHERE owner_id = $user"
    if deleted:
        _record_bulk_deletions(db, args, live)
    run(
        db,
        "INSERT INTO changes (kind, resource_id, user_id, bucket_id, seq, deleted, changed_at)"
        " SELECT 1, id, owner_id, id, $seq, $deleted, $now FROM buckets WHERE owner_id = $user"
        " ON CONFLICT (kind, resource_id) DO NOTHING",
        {**args, "deleted": False},
    )
    run(
        db,
        "INSERT INTO changes (kind, resource_id, user_id, bucket_id, seq, deleted, changed_at)"
        f" SELECT 2, id, $user, bucket_id, $seq, $deleted, $now FROM items WHERE bucket_id IN ({live})"
        " ON CONFLICT (kind, resource_id) DO NOTHING",
        {**args, "deleted": False},
    )


def _record_bulk_deletions(db: Database, args: dict[str, Any], live: str) -> None:
    # Items of buckets that are gone are implied by the buckets' tombstones.
    run(db, f"DELETE FROM changes WHERE user_id = $user AND kind = 2 AND bucket_id NOT IN ({live})", args)
    run(
        db,
        "UPDATE changes SET deleted = $deleted, seq = $seq, changed_at = $now"
        f" WHERE user_id = $user AND NOT deleted AND kind = 1 AND resource_id NOT IN ({live})",
        {**args, "deleted": True},
    )
    run(
        db,
        "UPDATE changes SET deleted = $deleted, seq = $seq, changed_at = $now"
        " WHERE user_id = $user AND NOT deleted AND kind = 2"
        " AND resource_id NOT IN (SELECT id FROM items WHERE bucket_id IN (" + live + "))",
        {**args, "deleted": True},
    )


def stamp(db: Database, moment: datetime) -> datetime | str:
    # SQLite compares the text Pony writes (six fraction digits always), so write the same.
    return moment.isoformat(" ", "microseconds") if db.provider.dialect == "SQLite" else moment


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where a client is: after (seq, kind, resource_id); tombstones up to `horizon` skipped."""

    seq: int = 0
    kind: int = 0
    resource_id: int = 0
    horizon: int = 0


class SyncTokens:
    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, TOKEN_PURPOSE)

    def issue(self, user: int, position: Position) -> str:
        payload = f"{user}.{position.seq}.{position.kind}.{position.resource_id}.{position.horizon}"
        return self._signer.seal(payload.encode())

    def read(self, user: int, token: str) -> Position:
        try:
            owner, *numbers = (int(part) for part in self._signer.open(token).decode().split("."))
        except ValueError:  # UnicodeDecodeError is one too
            raise ApiError(400, INVALID_SYNC_TOKEN) from None
        if owner != user or len(numbers) != 4:
            raise ApiError(400, INVALID_SYNC_TOKEN)
        return Position(*numbers)


# --- reading -----------------------------------------------------------------------------


def _columns(shape: Shape, alias: str, dialect: str) -> str:
    """The shape's columns of the joined table, timestamps as text, as the lists read them."""
    cast = "::text" if dialect == "PostgreSQL" else ""
    return ", ".join(
        f"{alias}.{field.column}{cast if field.kind is TIMESTAMP else ''}" for field in shape.fields
    )


def read_page(db: Database, tokens: SyncTokens, user: int, since: str | None, limit: int) -> dict[str, Any]:
    """The sync answer for `user` after the token `since` (None: from the start)."""
    if since is None:
        found = select(db, "SELECT change_seq FROM users WHERE id = $user", {"user": user})
        if not found:
            raise Unauthorized(INVALID_TOKEN)
        # Tombstones up to now are of things this client never had.
        position = Position(horizon=found[0][0])
    else:
        position = tokens.read(user, since)
    dialect = db.provider.dialect
    width = len(BUCKET_SHAPE.columns)
    rows = select(
        db,
        "SELECT c.kind, c.resource_id, c.seq, c.deleted,"
        f" {_columns(BUCKET_SHAPE, 'b', dialect)}, {_columns(ITEM_SHAPE, 'i', dialect)}"
        " FROM changes c"
        " LEFT JOIN buckets b ON c.kind = 1 AND NOT c.deleted AND b.id = c.resource_id"
        " LEFT JOIN items i ON c.kind = 2 AND NOT c.deleted AND i.id = c.resource_id"
        " WHERE c.user_id = $user AND (c.seq, c.kind, c.resource_id) > ($seq, $kind, $rid)"
        " AND (NOT c.deleted OR c.seq > $horizon)"
        " ORDER BY c.seq, c.kind, c.resource_id LIMIT $fetch",
        {
            "user": user,
            "seq": position.seq,
            "kind": position.kind,
            "rid": position.resource_id,
            "horizon": position.horizon,
            "fetch": limit + 1,
        },
    )
    if since is not None:
        # Read after the page: a purge commits its deletions and the raised floor together, so
        # if it took tombstones this page would have listed, this read sees the floor it raised.
        floor = select(db, "SELECT sync_floor FROM users WHERE id = $user", {"user": user})
        if not floor:
            raise Unauthorized(INVALID_TOKEN)
        if max(position.seq, position.horizon) < floor[0][0]:
            raise ApiError(410, EXPIRED_SYNC_TOKEN)
    more = len(rows) > limit
    rows = rows[:limit]
    answer: dict[str, Any] = {"status": "success", "buckets": [], "items": []}
    deleted: dict[str, list[int]] = {"buckets": [], "items": []}
    for kind, resource_id, _seq, is_deleted, *fields in rows:
        if is_deleted:
            deleted[KINDS[kind]].append(resource_id)
        elif kind == BUCKET:
            answer["buckets"].append(BUCKET_SHAPE.render(tuple(fields[:width])))
        else:
            answer["items"].append(ITEM_SHAPE.render(tuple(fields[width:])))
    if rows:
        kind, resource_id, seq = rows[-1][:3]
        position = Position(seq, kind, resource_id, position.horizon)
    answer.update(deleted=deleted, since=tokens.issue(user, position), more=more)
    return answer
