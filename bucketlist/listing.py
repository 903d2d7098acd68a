"""Pages of buckets and items: the hot path, in plain SQL.

- `count` without `q` comes from a counter kept on the parent row (users.bucket_count,
  buckets.item_count), updated in the same transaction as the insert or delete, so a
  user with 10,000 buckets or a bucket with 1,000,000 items costs no COUNT scan.
- A page in the second half of the list is read from the other end of the index
  (ascending, small OFFSET) and reversed, so the last page costs what the first does.
- Order: newest first, ties broken by id, on the (parent, created_at, id) index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pony.orm import Database

from .errors import not_found


def iso(moment: datetime | str) -> str:
    """ISO 8601 UTC with its offset. SQLite hands back its stored text, PostgreSQL a datetime."""
    if isinstance(moment, str):
        return moment.replace(" ", "T", 1) + "+00:00"
    return moment.isoformat(timespec="microseconds") + "+00:00"


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


@dataclass(frozen=True)
class Listing:
    table: str
    columns: str
    parent_column: str
    render: Callable[[tuple], dict[str, Any]]


BUCKETS = Listing("buckets", "id, name, created_at, modified_at", "owner_id", bucket_row)
ITEMS = Listing(
    "items", "id, name, description, done, bucket_id, created_at, modified_at", "bucket_id", item_row
)


def like_pattern(q: str) -> str:
    escaped = q.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def fetch_page(
    db: Database, listing: Listing, parent_id: int, page: int, limit: int, q: str | None, total: int
) -> tuple[int, list[dict[str, Any]]]:
    """(count, rows of the page). `total` is the parent's counter, used when `q` is empty."""
    where = f"{listing.parent_column} = $parent"
    args: dict[str, Any] = {"parent": parent_id}
    if q:
        # SQLite's lower() folds ASCII only; py_lower is Python's, registered by Pony.
        lower = "py_lower" if db.provider.dialect == "SQLite" else "lower"
        where += f" AND {lower}(name) LIKE $pattern ESCAPE '!'"
        args["pattern"] = like_pattern(q)
        total = db.select(f"SELECT COUNT(*) FROM {listing.table} WHERE {where}", args)[0]
    start = (page - 1) * limit
    if start >= total:
        return total, []
    size = min(limit, total - start)
    from_end = total - start - size
    if start <= from_end:
        order, offset = "DESC", start
    else:
        order, offset = "ASC", from_end
    args.update(size=size, offset=offset)
    rows = db.select(
        f"SELECT {listing.columns} FROM {listing.table} WHERE {where}"
        f" ORDER BY created_at {order}, id {order} LIMIT $size OFFSET $offset",
        args,
    )
    if order == "ASC":
        rows.reverse()
    return total, [listing.render(row) for row in rows]


def bucket_count(db: Database, user: int) -> int:
    rows = db.select("SELECT bucket_count FROM users WHERE id = $user", {"user": user})
    return rows[0] if rows else 0


def owned_item_count(db: Database, user: int, bucket_id: int) -> int:
    """The bucket's item counter; 404 when the bucket is not this user's."""
    rows = db.select(
        "SELECT item_count FROM buckets WHERE id = $bucket AND owner_id = $user",
        {"bucket": bucket_id, "user": user},
    )
    if not rows:
        raise not_found("Bucket")
    return rows[0]


def adjust_counter(db: Database, table: str, column: str, row_id: int, delta: int) -> None:
    db.execute(
        f"UPDATE {table} SET {column} = {column} + $delta WHERE id = $row_id",
        {"delta": delta, "row_id": row_id},
    )


def recount(db: Database, user: int) -> None:
    """Set a user's counters from the rows themselves (after bulk inserts that bypass them)."""
    # One grouped pass over the items, not one COUNT per bucket.
    db.execute(
        "UPDATE buckets SET item_count = counted.n FROM ("
        " SELECT bucket_id, COUNT(*) AS n FROM items"
        " WHERE bucket_id IN (SELECT id FROM buckets WHERE owner_id = $user) GROUP BY bucket_id"
        ") AS counted WHERE buckets.id = counted.bucket_id",
        {"user": user},
    )
    db.execute(
        "UPDATE buckets SET item_count = 0 WHERE owner_id = $user"
        " AND NOT EXISTS (SELECT 1 FROM items WHERE items.bucket_id = buckets.id)",
        {"user": user},
    )
    db.execute(
        "UPDATE users SET bucket_count = (SELECT COUNT(*) FROM buckets WHERE owner_id = $user)"
        " WHERE id = $user",
        {"user": user},
    )
