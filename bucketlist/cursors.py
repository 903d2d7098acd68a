"""Opaque, signed cursors for the lists: where a page starts, and which list it belongs to.

A cursor is a token of `bucketlist.signing` whose payload is a compact JSON array: direction
("n" reads older rows, "p" newer ones), whether the boundary row itself belongs to the page,
the boundary's (created_at text, id), the number the page had when the first link was
made, and for a searched list its count with the change count it holds for (Count).
It is bound to the user, the list (buckets of a user, items of a bucket), q, the done
filter and limit. Those are not carried in the cursor; they are the request's own, so a
cursor used for another list, query or user fails the signature like a tampered one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import ApiError
from .signing import Signer

INVALID_CURSOR = "Invalid cursor"
# What a list's boundary looks like as the databases give it back as text.
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?\Z")
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Count:
    """A list's exact count; for a searched list, the owner's change count it was made at.

    A searched count (q) is a COUNT over the matches: 100,000 of them cost 60 ms. Every
    write of a user's buckets and items bumps their change count in its own transaction
    (`changes.begin_write`), so while the count is the same no such write has committed, and
    a count made at it still holds: the next pages of a searched list, reached by a cursor
    that carries it (signed), count nothing. The change count is read before the COUNT, so a
    write committing in between makes the carried count look older than it is (it is made
    again), never newer.
    """

    total: int
    seq: int | None = None  # None: counted by the parent's counter, read every time


@dataclass(frozen=True)
class Position:
    direction: str  # "n": rows older than the boundary, newest first; "p": newer ones
    inclusive: bool  # the boundary row itself belongs to the page (after a page came back empty)
    created_at: str  # as text, as the list read it
    id: int
    page: int
    # A searched list's count, and the owner's change count it holds for (Count).
    count: Count | None = None


@dataclass(frozen=True)
class Binding:
    """What a cursor belongs to; every field comes from the request."""

    user: int
    list_name: str  # "buckets" or "items"
    parent: int
    q: str | None
    done: bool | None
    limit: int

    def context(self) -> bytes:
        return json.dumps(
            [self.user, self.list_name, self.parent, self.q or "", self.done, self.limit],
            ensure_ascii=True,
            separators=(",", ":"),
        ).encode()


def signer(secret: str) -> Signer:
    """Cursors have a key of their own, derived from the app's secret."""
    return Signer(secret, b"bucketlist list cursor")


def encode(signer: Signer, position: Position, binding: Binding) -> str:
    fields = [position.direction, int(position.inclusive), position.created_at, position.id, position.page]
    if position.count is not None and position.count.seq is not None:
        fields += [position.count.total, position.count.seq]
    return signer.seal(json.dumps(fields, separators=(",", ":")).encode(), binding.context())


def decode(signer: Signer, cursor: str, binding: Binding) -> Position:
    """The position a cursor holds; 400 "Invalid cursor" if it was not made for this binding."""
    try:
        direction, inclusive, created_at, row_id, page, *counted = json.loads(
            signer.open(cursor, binding.context())
        )
    except (ValueError, TypeError):
        raise ApiError(400, INVALID_CURSOR) from None
    # Signed by this server, so well-formed; checked anyway, so that nothing odd reaches SQL.
    if not (
        direction in ("n", "p")
        and inclusive in (0, 1)
        and isinstance(created_at, str)
        and _TIMESTAMP.match(created_at)
        and type(row_id) is int
        and 1 <= row_id <= MAX_ID
        and type(page) is int
        and 1 <= page <= MAX_ID
        and (not counted or (len(counted) == 2 and all(type(n) is int and n >= 0 for n in counted)))
    ):
        raise ApiError(400, INVALID_CURSOR)
    count = Count(*counted) if counted else None
    return Position(direction, bool(inclusive), created_at, row_id, page, count)


def boundary_of(row: dict) -> tuple[str, int]:
    """(created_at text, id) of a rendered row: 'YYYY-MM-DDTHH:MM:SS.ffffff+00:00' -> as stored."""
    created = row["createdAt"]
    return f"{created[:10]} {created[11:26]}", row["id"]
