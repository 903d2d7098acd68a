"""The SQL of every endpoint the baselines answer: one function per endpoint, both baselines.

Each function is a generator that yields `(sql, params)` and is sent the rows back, so the
same statements run on psycopg2 or sqlite3 (the Flask baseline, in a thread) and on asyncpg
(the raw ASGI baseline, awaited): see `run_sync` and `run_async`. Parameters are written
`:name`; each driver's placeholders are put in by `for_psycopg2` / `for_asyncpg`.

Two variants where they differ, chosen by `best`:
- `best=False` (Flask) mirrors the statements the service sends today (bucketlist/listing.py,
  bucketlist/records.py, bucketlist/changes.py, bucketlist/revocation.py): the revocation
  row; for a write, in one transaction, the user's change count, the write (ownership
  checked in it), the change record (and on a delete the purge of old tombstones).
- `best=True` (raw ASGI, "the limit"): each write is one statement, the change count, the
  write and its record together (CTEs); a read is the same one statement.

When the service's statements change, change them here, in the function of that endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any

from common import Refused

Statement = tuple[str, dict[str, Any]]
Plan = Generator[Statement, list[tuple], Any]

# --------------------------------------------------------------------------- the token

# bucketlist/revocation.py: (token_version, revoked) of the token's user.
STANDING = (
    "SELECT token_version, EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = :jti) FROM users WHERE id = :user"
)


def standing(user: int, jti: str) -> Plan:
    rows = yield STANDING, {"jti": jti, "user": user}
    return rows[0] if rows else None


# --------------------------------------------------------------------------- rendering

# bucketlist/listing.py: timestamps leave the database as text and are re-punctuated.
# Aliased, as bucketlist/shapes.py does: an output column named created_at is what ORDER BY
# created_at would sort by (text, not the indexed column), and every row of the parent with it.
TEXT = {"postgresql": "{0}::text AS {1}_text", "sqlite": "{0} AS {1}_text"}
BUCKET_COLUMNS = ("id", "name", "created_at", "modified_at")
ITEM_COLUMNS = ("id", "name", "description", "done", "bucket_id", "created_at", "modified_at")


def iso(text: str) -> str:
    if len(text) != 26:
        text = text + ".000000" if len(text) == 19 else text.ljust(26, "0")
    return f"{text[:10]}T{text[11:]}+00:00"


def bucket_row(row: tuple) -> dict[str, Any]:
    id_, name, created_at, modified_at = row
    return {"id": id_, "name": name, "createdAt": iso(created_at), "modifiedAt": iso(modified_at)}


def item_row(row: tuple) -> dict[str, Any]:
    id_, name, description, done, bucket_id, created_at, modified_at = row
    return {
        "id": id_,
        "name": name,
        "description": description,
        "done": bool(done),
        "bucketId": bucket_id,
        "createdAt": iso(created_at),
        "modifiedAt": iso(modified_at),
    }


def columns(names: tuple[str, ...], dialect: str, prefix: str = "") -> str:
    """The select list: the two timestamps (always last) as text."""
    *plain, created, modified = names
    text = TEXT[dialect]
    return ", ".join(
        [
            *(prefix + name for name in plain),
            text.format(prefix + created, created),
            text.format(prefix + modified, modified),
        ]
    )


def stamp(moment: datetime, dialect: str) -> Any:
    """A timestamp parameter: naive UTC; SQLite stores Pony's text, always with microseconds."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else moment


# --------------------------------------------------------------------------- lists (both baselines)

LISTS = {
    # table, columns, parent column, counter (no row when the parent is not the owner's), render
    "buckets": (
        "buckets",
        BUCKET_COLUMNS,
        "owner_id",
        "SELECT bucket_count FROM users WHERE id = :owner",
        bucket_row,
    ),
    "items": (
        "items",
        ITEM_COLUMNS,
        "bucket_id",
        "SELECT item_count FROM buckets WHERE id = :parent AND owner_id = :owner",
        item_row,
    ),
}
# A searched list reads the owner's change count instead of its parent's counter
# (listing.Listing.standing: the count its cursors carry holds while that is unchanged).
SEARCHED_STANDING = {
    "buckets": "SELECT change_seq FROM users WHERE id = :owner",
    "items": "SELECT (SELECT change_seq FROM users WHERE id = :owner)"
    " FROM buckets WHERE id = :parent AND owner_id = :owner",
}


def list_page(kind: str, dialect: str, owner: int, parent: int, page: int, limit: int, q: str | None) -> Plan:
    """bucketlist/listing.py's fetch_page, statement for statement: already the best we know."""
    table, names, parent_column, counter, render = LISTS[kind]
    select_list = columns(names, dialect)
    where = f"{parent_column} = :parent"
    args: dict[str, Any] = {"parent": parent, "owner": owner}
    if page == 1 and not q:
        rows = yield (
            f"SELECT ({counter}), {select_list} FROM {table} WHERE {where}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            {**args, "limit": limit},
        )
        if rows:
            if rows[0][0] is None:
                raise Refused(404, "Bucket not found")
            return rows[0][0], [render(row[1:]) for row in rows]
        return (yield from _count(counter, args)), []
    total = yield from _count(SEARCHED_STANDING[kind] if q else counter, args)
    if q:
        lower = "py_lower" if dialect == "sqlite" else "lower"
        where += f" AND {lower}(name) LIKE :pattern ESCAPE '!'"
        args["pattern"] = like_pattern(q)
        total = (yield f"SELECT COUNT(*) FROM {table} WHERE {where}", args)[0][0]
    start = (page - 1) * limit
    if start >= total:
        return total, []
    size = min(limit, total - start)
    from_end = total - start - size
    order, offset = ("DESC", start) if start <= from_end else ("ASC", from_end)
    ordering = f"ORDER BY created_at {order}, id {order}"
    rows = yield (
        f"SELECT {select_list} FROM (SELECT {', '.join(names)} FROM {table}"
        f" WHERE {where} {ordering} LIMIT :size OFFSET :offset) AS page {ordering}",
        {**args, "size": size, "offset": offset},
    )
    if order == "ASC":
        rows.reverse()
    return total, [render(row) for row in rows]


def _count(counter: str, args: dict[str, Any]) -> Plan:
    rows = yield counter, args
    if not rows:
        raise Refused(404, "Bucket not found")
    return rows[0][0]


def like_pattern(q: str) -> str:
    escaped = q.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


# --------------------------------------------------------------------------- one item

# bucketlist/records.py: the row of the owner's bucket, ownership checked in the statement.
OWNED_ITEM = (
    "id = :item AND bucket_id = :bucket"
    " AND EXISTS (SELECT 1 FROM buckets WHERE id = :bucket AND owner_id = :owner)"
)
# The fields PUT may set; the service sets those the body holds, then modified_at.
ITEM_FIELDS = ("name", "description", "done")


def _missing(owner: int, bucket: int) -> Plan:
    """After a one-statement miss: which of the two was not there (the refusals differ)."""
    rows = yield (
        "SELECT 1 FROM buckets WHERE id = :bucket AND owner_id = :owner",
        {"bucket": bucket, "owner": owner},
    )
    raise Refused(404, "Item not found" if rows else "Bucket not found")


def get_item(dialect: str, best: bool, owner: int, bucket: int, item: int) -> Plan:
    """One statement for both: bucketlist/records.py's read is already the best we know."""
    rows = yield (
        f"SELECT {columns(ITEM_COLUMNS, dialect)} FROM items WHERE {OWNED_ITEM}",
        {"item": item, "bucket": bucket, "owner": owner},
    )
    if not rows:
        yield from _missing(owner, bucket)
    return item_row(rows[0])


# bucketlist/changes.py: every write takes its user's next change count (and the user's row
# lock) first, and records the resource it changed at that count.
BEGIN_WRITE = "UPDATE users SET change_seq = change_seq + 1 WHERE id = :owner RETURNING change_seq"
RECORD = (
    "INSERT INTO changes (kind, resource_id, user_id, bucket_id, seq, deleted, changed_at)"
    " VALUES (2, :id, :owner, :bucket, :seq, :deleted, :now)"
    " ON CONFLICT (kind, resource_id) DO UPDATE"
    " SET seq = excluded.seq, deleted = excluded.deleted, changed_at = excluded.changed_at"
)
# A delete also forgets the user's tombstones older than the 30 days they are kept.
PURGE = "DELETE FROM changes WHERE user_id = :owner AND deleted AND changed_at < :before RETURNING seq"
RETENTION = timedelta(days=30)
# The raw ASGI baseline's write, one statement on PostgreSQL: its CTEs run in this order. It
# is the limit, not a design: one snapshot for all three lets a write slip past a racing
# bucket deletion, which the service's separate statements (each after the lock) cannot.
BEST_WRITE = (
    "WITH s AS (" + BEGIN_WRITE + "), w AS ({statement}),"
    " c AS (INSERT INTO changes (kind, resource_id, user_id, bucket_id, seq, deleted, changed_at)"
    " SELECT 2, w.id, CAST(:owner AS integer), CAST(:bucket AS integer),"
    " s.change_seq, CAST(:deleted AS boolean), CAST(:now AS timestamp) FROM w, s"
    " ON CONFLICT (kind, resource_id) DO UPDATE"
    " SET seq = excluded.seq, deleted = excluded.deleted, changed_at = excluded.changed_at)"
    "{purge} SELECT * FROM w"
)


def _write(dialect: str, best: bool, statement: str, args: dict[str, Any], *, deleted: bool) -> Plan:
    """A write as the service makes it: the change count, the statement, its change record.

    `statement` (with `{now}` where the time goes) returns the row, its id first; no row is a
    miss, for the caller to explain. The Flask baseline sends the service's statements, in
    one transaction; the raw ASGI one (PostgreSQL) one statement.
    """
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the service stores it
    args = {**args, "now": stamp(now, dialect), "before": stamp(now - RETENTION, dialect), "deleted": deleted}
    if best:
        purge = f", p AS ({PURGE.removesuffix(' RETURNING seq')})" if deleted else ""
        sql = BEST_WRITE.format(statement=statement.format(now="CAST(:now AS timestamp)"), purge=purge)
        return (yield sql, args)
    yield from _begin(dialect)
    seq = (yield BEGIN_WRITE, args)[0][0]
    rows = yield statement.format(now=":now"), args
    if not rows:
        yield "ROLLBACK", {}
        return rows
    yield RECORD, {**args, "id": rows[0][0], "seq": seq}
    if deleted:
        yield PURGE, args
    yield "COMMIT", {}
    return rows


def create_item(
    dialect: str, best: bool, owner: int, bucket: int, name: str, description: str | None, done: bool
) -> Plan:
    args = {"bucket": bucket, "owner": owner, "name": name, "description": description, "done": done}
    # asyncpg types parameters from where they stand: in a SELECT list, nowhere, so cast them.
    values = (
        "CAST(:name AS text), CAST(:description AS text), CAST(:done AS boolean)"
        if best
        else ":name, :description, :done"
    )
    rows = yield from _write(
        dialect,
        best,
        "INSERT INTO items (name, description, done, bucket_id, created_at, modified_at)"
        f" SELECT {values}, id, {{now}}, {{now}} FROM buckets WHERE id = :bucket AND owner_id = :owner"
        f" RETURNING {columns(ITEM_COLUMNS, dialect)}",
        args,
        deleted=False,
    )
    if not rows:
        raise Refused(404, "Bucket not found")
    return item_row(rows[0])


def update_item(dialect: str, best: bool, owner: int, bucket: int, item: int, body: dict) -> Plan:
    fields = [field for field in ITEM_FIELDS if field in body]
    if not fields:
        raise Refused(400, "Provide at least one of name, description and done")
    assignments = "".join(f"{field} = :{field}, " for field in fields)
    args = {"bucket": bucket, "owner": owner, "item": item, **{field: body[field] for field in fields}}
    rows = yield from _write(
        dialect,
        best,
        f"UPDATE items SET {assignments}modified_at = {{now}} WHERE {OWNED_ITEM}"
        f" RETURNING {columns(ITEM_COLUMNS, dialect)}",
        args,
        deleted=False,
    )
    if not rows:
        yield from _missing(owner, bucket)
    return item_row(rows[0])


def delete_item(dialect: str, best: bool, owner: int, bucket: int, item: int) -> Plan:
    args = {"bucket": bucket, "owner": owner, "item": item}
    statement = f"DELETE FROM items WHERE {OWNED_ITEM} RETURNING id"
    rows = yield from _write(dialect, best, statement, args, deleted=True)
    if not rows:
        yield from _missing(owner, bucket)
    return None


def _begin(dialect: str) -> Plan:
    # Pony's write transactions: BEGIN IMMEDIATE on SQLite, a psycopg2 transaction on PostgreSQL.
    yield ("BEGIN IMMEDIATE" if dialect == "sqlite" else "BEGIN"), {}


# --------------------------------------------------------------------------- drivers

_NAME = re.compile(r"(?<!:):([a-z_]+)\b")


def for_psycopg2(sql: str) -> str:
    return _NAME.sub(r"%(\1)s", sql)


_ASYNCPG: dict[str, tuple[str, list[str]]] = {}


def for_asyncpg(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """`:name` to `$n` (compiled once per statement) and the arguments in that order."""
    compiled = _ASYNCPG.get(sql)
    if compiled is None:
        names: list[str] = []

        def number(match: re.Match) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        compiled = _ASYNCPG[sql] = (_NAME.sub(number, sql), names)
    text, names = compiled
    return text, [params[name] for name in names]


def run_sync(plan: Plan, execute: Callable[[str, dict], list[tuple]]) -> Any:
    try:
        statement = next(plan)
        while True:
            statement = plan.send(execute(*statement))
    except StopIteration as done:
        return done.value


async def run_async(plan: Plan, execute) -> Any:
    try:
        statement = next(plan)
        while True:
            statement = plan.send(await execute(*statement))
    except StopIteration as done:
        return done.value
