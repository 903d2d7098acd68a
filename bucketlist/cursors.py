"""Opaque, signed cursors for the lists: where a page starts, and which list it belongs to.

A cursor is a token of `bucketlist.signing` whose payload is a compact JSON array: direction
("n" reads older rows, "p" newer ones), whether the boundary row itself belongs to the page,
the boundary's (created_at text, id), and the number the page had when the first link was
made. It is bound to the user, the list (buckets of a user, items of a bucket), q, the done
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
class Position:
    direction: str  # "n": rows older than the boundary, newest first; "p": newer ones
    inclusive: bool  # the boundary row itself belongs to the page (after a page came back empty)
    created_at: str  # as text, as the list read it
    id: int
    page: int


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
    body = json.dumps(
        [position.direction, int(position.inclusive), position.created_at, position.id, position.page],
        separators=(",", ":"),
    )
    return signer.seal(body.encode(), binding.context())


def decode(signer: Signer, cursor: str, binding: Binding) -> Position:
    """The position a cursor holds; 400 "Invalid cursor" if it was not made for this binding."""
    try:
        direction, inclusive, created_at, row_id, page = json.loads(signer.open(cursor, binding.context()))
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
    ):
        raise ApiError(400, INVALID_CURSOR)
    return Position(direction, bool(inclusive), created_at, row_id, page)


def boundary_of(row: dict) -> tuple[str, int]:
    """(created_at text, id) of a rendered row: 'YYYY-MM-DDTHH:MM:SS.ffffff+00:00' -> as stored."""
    created = row["createdAt"]
    return f"{created[:10]} {created[11:26]}", row["id"]
