"""The SQL of every endpoint the baselines answer: one function per endpoint, both baselines.

Each function is a generator that yields `(sql, params)` and is sent the rows back, so the
same statements run on psycopg2 or sqlite3 (the Flask baseline, in a thread) and on asyncpg
(the raw ASGI baseline, awaited): see `run_sync` and `run_async`. Parameters are written
`:name`; each driver's placeholders are put in by `for_psycopg2` / `for_asyncpg`.

Two variants where they differ, chosen by `best`:
- `best=False` (Flask) mirrors the statements the service sends today (bucketlist/listing.py,
  bucketlist/handlers/, bucketlist/revocation.py on main): the revocation row, the bucket
  locked `FOR UPDATE`, then the item, then the write and the counter on the parent row,
  in one transaction.
- `best=True` (raw ASGI, "the limit"): each write is one statement, ownership, the write
  and the counter together (CTEs); a read is one join.

When the service's statements change, change them here, in the function of that endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from datetime import UTC, datetime
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
TEXT = {"postgresql": "{0}::text", "sqlite": "{0}"}
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
    *plain, created, modified = (prefix + name for name in names)
    text = TEXT[dialect]
    return ", ".join([*plain, text.format(created), text.format(modified)])


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
    total = yield from _count(counter, args)
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


def _owned_bucket(dialect: str, owner: int, bucket: int, *, for_write: bool) -> Plan:
    """handlers/common.py's owned_bucket: Pony's select of the whole row, locked for writes."""
    lock = " FOR UPDATE" if for_write and dialect != "sqlite" else ""
    rows = yield (
        "SELECT id, name, owner_id, created_at, modified_at, item_count FROM buckets"
        f" WHERE id = :bucket AND owner_id = :owner ORDER BY 1 LIMIT 1{lock}",
        {"bucket": bucket, "owner": owner},
    )
    if not rows:
        raise Refused(404, "Bucket not found")


def _owned_item(dialect: str, owner: int, bucket: int, item: int, *, for_write: bool) -> Plan:
    yield from _owned_bucket(dialect, owner, bucket, for_write=for_write)
    rows = yield (
        f"SELECT {columns(ITEM_COLUMNS, dialect)} FROM items"
        " WHERE id = :item AND bucket_id = :bucket ORDER BY 1 LIMIT 1",
        {"item": item, "bucket": bucket},
    )
    if not rows:
        raise Refused(404, "Item not found")
    return rows[0]


def _missing(dialect: str, owner: int, bucket: int) -> Plan:
    """After a one-statement miss: which of the two was not there (the refusals differ)."""
    yield from _owned_bucket(dialect, owner, bucket, for_write=False)
    raise Refused(404, "Item not found")


def get_item(dialect: str, best: bool, owner: int, bucket: int, item: int) -> Plan:
    if not best:
        return item_row((yield from _owned_item(dialect, owner, bucket, item, for_write=False)))
    rows = yield (
        f"SELECT {columns(ITEM_COLUMNS, dialect, 'i.')} FROM items i JOIN buckets b ON b.id = i.bucket_id"
        " WHERE i.id = :item AND i.bucket_id = :bucket AND b.owner_id = :owner",
        {"item": item, "bucket": bucket, "owner": owner},
    )
    if not rows:
        yield from _missing(dialect, owner, bucket)
    return item_row(rows[0])


def create_item(
    dialect: str, best: bool, owner: int, bucket: int, name: str, description: str | None, done: bool
) -> Plan:
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the service stores it
    args = {
        "bucket": bucket,
        "owner": owner,
        "name": name,
        "description": description,
        "done": done,
        "now": stamp(now, dialect),
    }
    if not best:
        yield from _begin(dialect)
        yield from _owned_bucket(dialect, owner, bucket, for_write=True)
        rows = yield (
            "INSERT INTO items (name, description, done, bucket_id, created_at, modified_at)"
            " VALUES (:name, :description, :done, :bucket, :now, :now) RETURNING id",
            args,
        )
        # Pony reads the new row back (its defaults) before the handler renders it.
        rows = yield f"SELECT {columns(ITEM_COLUMNS, dialect)} FROM items WHERE id = :id", {"id": rows[0][0]}
        yield "COMMIT", {}
        return item_row(rows[0])
    rows = yield (
        # The bucket's counter is the database's triggers' (migration 0006), as for the service.
        "WITH b AS (SELECT id FROM buckets WHERE id = :bucket AND owner_id = :owner)"
        " INSERT INTO items (name, description, done, bucket_id, created_at, modified_at)"
        # Typed: parameters in a SELECT list are not typed from the INSERT's columns.
        " SELECT CAST(:name AS text), CAST(:description AS text), CAST(:done AS boolean), b.id,"
        " CAST(:now AS timestamp), CAST(:now AS timestamp) FROM b"
        f" RETURNING {columns(ITEM_COLUMNS, dialect)}",
        args,
    )
    if not rows:
        raise Refused(404, "Bucket not found")
    return item_row(rows[0])


# The fields PUT may set; the service's handler passes the body to Pony's set().
ITEM_FIELDS = ("name", "description", "done")


def update_item(dialect: str, best: bool, owner: int, bucket: int, item: int, body: dict) -> Plan:
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the service stores it
    fields = [field for field in ITEM_FIELDS if field in body]
    if not fields:
        raise Refused(400, "Provide at least one of name, description and done")
    assignments = ", ".join(f"{field} = :{field}" for field in [*fields, "modified_at"])
    args = {
        "bucket": bucket,
        "owner": owner,
        "item": item,
        "modified_at": stamp(now, dialect),
        **{field: body[field] for field in fields},
    }
    if not best:
        yield from _begin(dialect)
        row = yield from _owned_item(dialect, owner, bucket, item, for_write=True)
        old = dict(zip(ITEM_COLUMNS, row, strict=True))
        # Pony's optimistic check: the columns it loaded and the update does not set.
        checks = ["id = :item"]
        for column in ("name", "description", "bucket_id", "created_at"):
            if column in fields:
                continue
            if old[column] is None:
                checks.append(f"{column} IS NULL")
            else:
                checks.append(f"{column} = :old_{column}")
                args[f"old_{column}"] = old[column]
        rows = yield f"UPDATE items SET {assignments} WHERE {' AND '.join(checks)} RETURNING id", args
        if not rows:
            raise Refused(409, "The item changed meanwhile")  # Pony's UnrepeatableReadError
        yield "COMMIT", {}
        merged = old | {field: body[field] for field in fields}
        merged["modified_at"] = str(now)
        return item_row(tuple(merged[column] for column in ITEM_COLUMNS))
    rows = yield (
        "WITH b AS (SELECT id FROM buckets WHERE id = :bucket AND owner_id = :owner FOR UPDATE)"
        f" UPDATE items SET {assignments} WHERE id = :item AND bucket_id = (SELECT id FROM b)"
        f" RETURNING {columns(ITEM_COLUMNS, dialect)}",
        args,
    )
    if not rows:
        yield from _missing(dialect, owner, bucket)
    return item_row(rows[0])


def delete_item(dialect: str, best: bool, owner: int, bucket: int, item: int) -> Plan:
    args = {"bucket": bucket, "owner": owner, "item": item}
    if not best:
        yield from _begin(dialect)
        yield from _owned_item(dialect, owner, bucket, item, for_write=True)
        yield "DELETE FROM items WHERE id = :item", args
        yield "COMMIT", {}
        return None
    # The counter is the triggers': a second delete of one item deletes, and counts, nothing.
    rows = yield (
        "DELETE FROM items WHERE id = :item"
        " AND bucket_id = (SELECT id FROM buckets WHERE id = :bucket AND owner_id = :owner) RETURNING id",
        args,
    )
    if not rows:
        yield from _missing(dialect, owner, bucket)
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
