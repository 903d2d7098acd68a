"""Pages of buckets and items: the hot path, in plain SQL.

- `count` without `q` comes from a counter kept on the parent row (users.bucket_count,
  buckets.item_count, and buckets.done_count for `done`) by the database's triggers
  (migrations 0006_counter_triggers, 0007_done_counter) in the same transaction as any
  write, so a user with 100,000 buckets or a bucket with 1,000,000 items costs no COUNT scan.
- Page 1 without `q`, the request nearly every client makes, is one statement: the counter
  comes with the rows, from the same snapshot.
- A page in the second half of the list is read from the other end of the index
  (ascending, small OFFSET) and reversed, so the last page costs what the first does.
- A page reached by a cursor (bucketlist.cursors) is read from the cursor's boundary row
  with a keyset condition on (created_at, id): no OFFSET, so any depth costs what page 1
  does, and rows added or deleted meanwhile shift nothing. A searched list's count (q)
  travels in its cursors with the owner's change count it holds for, and is made again
  only when that has moved (cursors.Count).
- A large searched count is also remembered in the database (`search_totals`, one row per
  user: their last one), so that page 1 of the same search, and a cursor page whose count no
  longer holds, count nothing either. The lookup rides on the statement that reads the
  change count. On PostgreSQL the database's triggers keep that count exact on every write
  (migration 0009_search_totals), so only a new search pays the COUNT; on SQLite a write to
  the list forgets it.
- Order: newest first, ties broken by id, on the (parent, created_at, id) index.
- Timestamps leave the database as text and are only re-punctuated: no datetime is built
  and formatted again per row.
- What a row holds and how it renders come from the resource's Shape (bucketlist.shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pony.orm import Database

from .adaptations import raw_rows
from .cursors import Count, Position
from .errors import not_found
from .models import utcnow
from .shapes import BUCKET, ITEM, Shape


@dataclass(frozen=True)
class Listing:
    shape: Shape
    parent_column: str
    # The parent's counter, for `$owner`'s list under `$parent`; no row when not theirs.
    # `{count}` is one of `counts`.
    counter: str
    # For a search: the owner's change count (bucketlist.changes), under the same condition,
    # and the count remembered for the search, or NULL (REMEMBERED).
    standing: str
    # The counter's column for each value of the done filter the parent counts (None: all rows).
    counts: dict[bool | None, str] = field(default_factory=dict)
    # Newest first, ties broken by id: the (parent, created_at, id) index of the model.
    order: tuple[str, ...] = ("created_at", "id")

    def counter_of(self, done: bool | None) -> str | None:
        """The counter's statement for the done filter, or None where the parent keeps no count."""
        count = self.counts.get(done)
        return None if count is None else self.counter.format(count=count)

    def order_by(self, direction: str) -> str:
        return "ORDER BY " + ", ".join(f"{column} {direction}" for column in self.order)


# A searched count is remembered from this many matches: below it, the COUNT costs about
# what writing it down would (a write transaction, even on a GET).
REMEMBER_FROM = 1000
# And trusted this long, then made again: what bounds a count gone wrong, which only a write
# around the API (raw SQL that does not take the user's row first, as changes.begin_write
# does) committing between a COUNT and its REMEMBER can make. Once in a while for a user who
# keeps searching, at the cost of one COUNT.
REMEMBER_FOR = timedelta(minutes=15)
REMEMBERED = (
    "(SELECT total FROM search_totals WHERE owner_id = $owner AND list = $list AND parent_id = $parent"
    " AND pattern = $pattern AND done = $searched_done AND counted_at > $counted_after)"
)

BUCKETS = Listing(
    BUCKET,
    "owner_id",
    "SELECT {count} FROM users WHERE id = $owner",
    f"SELECT u.change_seq, {REMEMBERED} FROM users AS u WHERE u.id = $owner",
    {None: "bucket_count"},
)
ITEMS = Listing(
    ITEM,
    "bucket_id",
    "SELECT {count} FROM buckets WHERE id = $parent AND owner_id = $owner",
    f"SELECT u.change_seq, {REMEMBERED} FROM buckets AS b JOIN users AS u ON u.id = b.owner_id"
    " WHERE b.id = $parent AND b.owner_id = $owner",
    {None: "item_count", True: "done_count", False: "item_count - done_count"},
)


# Written only if no write of the owner has committed since the change count `$seq` was read,
# before the COUNT, and none is in progress: such a write's rows may be missing from the count,
# and the triggers that keep the row would build on it. On PostgreSQL a write holds the user's
# row from its first statement (changes.begin_write): SKIP LOCKED then finds no row and nothing
# is written (the GET does not wait for the write; the next one counts again); once FOR SHARE
# holds the row, a write waits for this statement's transaction, committed right after it,
# and its triggers see the row. From the user's row, too, so that an account deleted
# meanwhile leaves nothing to insert.
_REMEMBER = (
    "INSERT INTO search_totals (owner_id, list, parent_id, pattern, done, total, counted_at)"
    " SELECT id, $list, $parent, $pattern, $searched_done, $total, $now FROM users"
    " WHERE id = $owner AND change_seq = $seq{lock}"
    " ON CONFLICT (owner_id) DO UPDATE SET list = excluded.list, parent_id = excluded.parent_id,"
    " pattern = excluded.pattern, done = excluded.done, total = excluded.total,"
    " counted_at = excluded.counted_at"
)


def remember_sql(dialect: str) -> str:
    """The statement that writes a searched count down, `$seq` being the change count read before it."""
    return _REMEMBER.format(lock=" FOR SHARE SKIP LOCKED" if dialect == "PostgreSQL" else "")


def select(db: Database, sql: str, args: dict[str, Any]) -> list[tuple]:
    """Rows as plain tuples (see `adaptations.raw_rows`: why not `Database.select`)."""
    return raw_rows(db, sql, args)


def like_pattern(q: str) -> str:
    escaped = q.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def _filtered(
    db: Database,
    listing: Listing,
    args: dict[str, Any],
    q: str | None,
    done: bool | None,
    known: Count | None = None,
) -> tuple[str, Count]:
    """(WHERE clause, exact count) of the list under the request's filters; 404 if not theirs.

    `known`: a count carried by the request's cursor, taken when it still holds."""
    where = _under_parent(listing, args, done)
    counter = None if q else listing.counter_of(done)
    if counter is not None:
        return where, Count(_parent_row(db, counter, args)[0])
    # Only a search is left: every filter without q has a counter (Listing.counts).
    # SQLite's lower() folds ASCII only; py_lower is Python's, registered by Pony.
    # On PostgreSQL, lower(name) is what the trigram index of migration 0004 indexes.
    lower = "py_lower" if db.provider.dialect == "SQLite" else "lower"
    where += f" AND {lower}(name) LIKE $pattern ESCAPE '!'"
    args["pattern"] = like_pattern(q)
    now = utcnow()
    # What names the search in search_totals, beside $owner, $parent and $pattern.
    searched = {"list": listing.shape.table, "searched_done": -1 if done is None else int(done)}
    seq, remembered = _parent_row(
        db, listing.standing, {**args, **searched, "counted_after": now - REMEMBER_FOR}
    )
    if remembered is not None:
        return where, Count(remembered, seq)
    if known is not None and known.seq == seq:
        return where, known
    total = select(db, f"SELECT COUNT(*) FROM {listing.shape.table} WHERE {where}", args)[0][0]
    if total >= REMEMBER_FROM:
        db.execute(
            remember_sql(db.provider.dialect), {**args, **searched, "seq": seq, "total": total, "now": now}
        )
        # Now, not at the end of the request: the user's row (PostgreSQL), or the database
        # (SQLite), is held for this statement only, not while the page is read and sent.
        db.commit()
    return where, Count(total, seq)


def fetch_page(
    db: Database,
    listing: Listing,
    owner: int,
    parent_id: int,
    page: int,
    limit: int,
    q: str | None,
    done: bool | None = None,
) -> tuple[Count, list[dict[str, Any]]]:
    """(count, rows of the page) of `owner`'s list under `parent_id`; 404 if not theirs."""
    dialect = db.provider.dialect
    shape = listing.shape
    columns = shape.select_list(dialect)
    args: dict[str, Any] = {"parent": parent_id, "owner": owner}
    counter = None if q else listing.counter_of(done)
    if page == 1 and counter is not None:
        where = _under_parent(listing, args, done)
        rows = select(
            db,
            f"SELECT ({counter}), {columns} FROM {shape.table} WHERE {where}"
            f" {listing.order_by('DESC')} LIMIT $limit",
            {**args, "limit": limit},
        )
        if rows:
            if rows[0][0] is None:  # rows under someone else's parent
                raise not_found("Bucket")
            return Count(rows[0][0]), [shape.render(row[1:]) for row in rows]
        return Count(_parent_row(db, counter, args)[0]), []
    where, counted = _filtered(db, listing, args, q, done)
    total = counted.total
    start = (page - 1) * limit
    if start >= total:
        return counted, []
    size = min(limit, total - start)
    from_end = total - start - size
    if start <= from_end:
        order, offset = "DESC", start
    else:
        order, offset = "ASC", from_end
    args.update(size=size, offset=offset)
    # The page is picked in a subquery of plain columns: the rows OFFSET skips are not
    # converted to text, only the ones returned.
    ordering = listing.order_by(order)
    rows = select(
        db,
        f"SELECT {columns} FROM (SELECT {', '.join(shape.columns)} FROM {shape.table}"
        f" WHERE {where} {ordering} LIMIT $size OFFSET $offset) AS page {ordering}",
        args,
    )
    if order == "ASC":
        rows.reverse()
    return counted, [shape.render(row) for row in rows]


@dataclass(frozen=True)
class KeysetPage:
    count: Count
    rows: list[dict[str, Any]]
    # Whether rows exist beyond the page's first (newer) and last (older) row.
    has_newer: bool
    has_older: bool


def fetch_keyset(
    db: Database,
    listing: Listing,
    owner: int,
    parent_id: int,
    limit: int,
    q: str | None,
    done: bool | None,
    position: Position,
) -> KeysetPage:
    """The page next to a cursor's boundary: one index range scan from it, at any depth.

    "n" reads the rows older than the boundary, newest first; "p" the newer ones, oldest
    first, and reverses them. One row more than the page tells whether the list goes on
    that way; whether it goes on the other way comes in the same statement (keyset_sql).
    """
    dialect = db.provider.dialect
    shape = listing.shape
    args: dict[str, Any] = {"parent": parent_id, "owner": owner}
    where, total = _filtered(db, listing, args, q, done, position.count)
    older = position.direction == "n"
    args.update(size=limit + 1, at=position.created_at, at_id=position.id)
    rows = select(db, keyset_sql(dialect, listing, where, older, position.inclusive), args)
    if rows:
        back = rows[0][-1] is not None
    else:  # no row to carry the answer: asked on its own
        other_side = beyond_sql(dialect, listing, where, back_comparison(older, position.inclusive))
        back = bool(select(db, other_side, args))
    beyond = len(rows) > limit
    rendered = [shape.render(row[:-1]) for row in rows[:limit]]
    if not older:
        rendered.reverse()
    if older:
        return KeysetPage(total, rendered, has_newer=back, has_older=beyond)
    return KeysetPage(total, rendered, has_newer=beyond, has_older=back)


def back_comparison(older: bool, inclusive: bool) -> str:
    """Rows on the other side of a cursor's boundary from the page, as a keyset comparison.

    Between the boundary and the page's first row no row matches (that row is the first one
    after the boundary), so "is there a row before the page" is "is there one before the
    boundary", the boundary row itself included when the page leaves it out."""
    return (">" if older else "<") + ("" if inclusive else "=")


def keyset_sql(dialect: str, listing: Listing, where: str, older: bool, inclusive: bool) -> str:
    """The rows of a cursor page and one more: `$size` of them from the boundary `($at, $at_id)`.

    Each row ends with a column that is not NULL when a row lies on the other side of the
    boundary (beyond_sql, run once: it does not depend on the row)."""
    comparison = ("<" if older else ">") + ("=" if inclusive else "")
    ordering = listing.order_by("DESC" if older else "ASC")
    back = beyond_sql(dialect, listing, where, back_comparison(older, inclusive))
    return (
        f"SELECT {listing.shape.select_list(dialect)}, ({back}) FROM {listing.shape.table}"
        f" WHERE {where} AND (created_at, id) {comparison} {_boundary(dialect)} {ordering} LIMIT $size"
    )


def beyond_sql(dialect: str, listing: Listing, where: str, comparison: str) -> str:
    """Whether a row lies beyond the boundary `($at, $at_id)` that way (`comparison`).

    Ordered as the index is, or PostgreSQL may answer it with a sequential scan from the
    table's start: half a million rows read to find one, in the middle of a million items."""
    ordering = listing.order_by("ASC" if comparison.startswith(">") else "DESC")
    return (
        f"SELECT 1 FROM {listing.shape.table} WHERE {where}"
        f" AND (created_at, id) {comparison} {_boundary(dialect)} {ordering} LIMIT 1"
    )


def _boundary(dialect: str) -> str:
    # The boundary travels as text; PostgreSQL compares it as the column's type.
    return "(CAST($at AS timestamp), $at_id)" if dialect == "PostgreSQL" else "($at, $at_id)"


def _under_parent(listing: Listing, args: dict[str, Any], done: bool | None) -> str:
    """The WHERE clause of the rows under `$parent`, done or not when `done` says."""
    if done is None:
        return f"{listing.parent_column} = $parent"
    args["done"] = done
    return f"{listing.parent_column} = $parent AND done = $done"


def _parent_row(db: Database, sql: str, args: dict[str, Any]) -> tuple:
    """The parent's row of `$owner`'s list (`counter` or `standing`); 404 when not theirs."""
    rows = select(db, sql, args)
    if not rows:
        raise not_found("Bucket")
    return rows[0]
