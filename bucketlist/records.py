"""One bucket or one item: read, create, update and delete, each in one SQL statement.

Beside the lists (bucketlist.listing), these are the hot paths: every GET, POST, PUT, PATCH
and DELETE of a single resource. Through Pony's entities each of them was two or three
statements (the owner's bucket, locked for writes; the item; the write, then Pony's read
back) and most of the request's CPU: building the query, the identity map, the entity and
its rendering. Here:

- a read is the row with its ownership checked in the same statement (an EXISTS on the
  bucket's owner: one index probe);
- a create is `INSERT ... SELECT` from the owner's bucket, an update `UPDATE ... WHERE` owned,
  a delete `DELETE ... WHERE` owned, each `RETURNING` the row as the API shows it (the same
  select list and renderer as a page's rows: bucketlist.shapes);
- only a miss costs a second statement, to tell "Bucket not found" from "Item not found".

Writes run after `changes.begin_write`, which has locked the user's row: every write to a
user's buckets and items takes that lock first, so they take turns, and the ownership a
statement checks cannot change before the transaction ends (no bucket row lock is needed;
on SQLite the transaction holds the database's write lock from its first statement). The
lists' counters follow from the database's triggers (migration 0006_counter_triggers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pony.orm import Database

from .changes import run, stamp
from .errors import not_found
from .listing import select
from .shapes import BUCKET, DIALECTS, ITEM, Shape


@dataclass(frozen=True, eq=False)  # each resource is one object, compared by identity
class Resource:
    shape: Shape
    name: str  # as the 404 says it: "Bucket not found"
    # The row `$id` of `$owner` (items: in the bucket `$bucket`).
    owned: str
    # A new row's columns besides the writable fields and the timestamps, as SQL over `$...`.
    parent: dict[str, str]
    # Where a new row comes from: a VALUES list, or the owner's bucket (items).
    source: str | None = None

    def statements(self, dialect: str) -> dict[str, str]:
        return _STATEMENTS[self, dialect]


BUCKETS = Resource(
    BUCKET,
    "Bucket",
    owned="id = $id AND owner_id = $owner",
    # The counter starts at 0; the items' triggers keep it.
    parent={"owner_id": "$owner", "item_count": "0"},
)
ITEMS = Resource(
    ITEM,
    "Item",
    owned=(
        "id = $id AND bucket_id = $bucket"
        " AND EXISTS (SELECT 1 FROM buckets WHERE id = $bucket AND owner_id = $owner)"
    ),
    parent={"bucket_id": "id"},
    source="FROM buckets WHERE id = $bucket AND owner_id = $owner",
)
OWNED_BUCKET = "SELECT 1 FROM buckets WHERE id = $bucket AND owner_id = $owner"


def _build(resource: Resource, dialect: str) -> dict[str, str]:
    shape = resource.shape
    table, returning = shape.table, shape.select_list(dialect)
    writable = [field.column for field in shape.writable]
    columns = [*writable, *resource.parent, "created_at", "modified_at"]
    values = [*(f"${column}" for column in writable), *resource.parent.values(), "$now", "$now"]
    inserted = (
        f"SELECT {', '.join(values)} {resource.source}"
        if resource.source
        else f"VALUES ({', '.join(values)})"
    )
    owned = resource.owned
    return {
        "read": f"SELECT {returning} FROM {table} WHERE {owned}",
        "create": f"INSERT INTO {table} ({', '.join(columns)}) {inserted} RETURNING {returning}",
        # `set` is filled in per request: the fields the body holds, then modified_at.
        "update": f"UPDATE {table} SET {{set}}modified_at = $now WHERE {owned} RETURNING {returning}",
        "delete": f"DELETE FROM {table} WHERE {owned} RETURNING id",
    }


_STATEMENTS = {
    (resource, dialect): _build(resource, dialect) for resource in (BUCKETS, ITEMS) for dialect in DIALECTS
}


def _arguments(owner: int, id: int | None, bucket: int | None) -> dict[str, Any]:
    return {"owner": owner, "id": id, "bucket": bucket}


def read(db: Database, resource: Resource, owner: int, id: int, bucket: int | None = None) -> dict[str, Any]:
    """The resource as the API shows it, or 404."""
    args = _arguments(owner, id, bucket)
    rows = select(db, resource.statements(db.provider.dialect)["read"], args)
    if not rows:
        raise _missing(db, resource, args)
    return resource.shape.render(rows[0])


def create(
    db: Database,
    resource: Resource,
    owner: int,
    body: dict[str, Any],
    now: datetime,
    bucket: int | None = None,
) -> dict[str, Any]:
    """Insert what `body` sets (the shape's defaults for the rest); 404 if the bucket is not theirs."""
    args = {**_arguments(owner, None, bucket), **resource.shape.values(body), "now": stamp(db, now)}
    rows = run(db, resource.statements(db.provider.dialect)["create"], args)
    if not rows:
        raise not_found("Bucket")
    return resource.shape.render(rows[0])


def update(
    db: Database,
    resource: Resource,
    owner: int,
    id: int,
    body: dict[str, Any],
    now: datetime,
    bucket: int | None = None,
) -> dict[str, Any]:
    """Set what `body` holds (the rest keeps its value) and modifiedAt; 404 if not theirs."""
    values = resource.shape.values(body, defaults=False)
    assignments = "".join(f"{column} = ${column}, " for column in values)
    sql = resource.statements(db.provider.dialect)["update"].replace("{set}", assignments)
    args = {**_arguments(owner, id, bucket), **values, "now": stamp(db, now)}
    rows = run(db, sql, args)
    if not rows:
        raise _missing(db, resource, args)
    return resource.shape.render(rows[0])


def delete(db: Database, resource: Resource, owner: int, id: int, bucket: int | None = None) -> None:
    args = _arguments(owner, id, bucket)
    if not run(db, resource.statements(db.provider.dialect)["delete"], args):
        raise _missing(db, resource, args)


def delete_items_of(db: Database, owner: int, bucket: int) -> None:
    """Every item of the owner's bucket, in one statement (before the bucket itself)."""
    run(
        db,
        f"DELETE FROM items WHERE bucket_id = $bucket AND EXISTS ({OWNED_BUCKET})",
        _arguments(owner, None, bucket),
    )


def _missing(db: Database, resource: Resource, args: dict[str, Any]) -> Exception:
    """The 404 of a miss: an item's bucket may be the one that is not there."""
    if resource is ITEMS and not select(db, OWNED_BUCKET, args):
        return not_found("Bucket")
    return not_found(resource.name)
