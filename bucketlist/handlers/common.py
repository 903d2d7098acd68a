"""What the bucket and item handlers share: absolute URLs and paging."""

from __future__ import annotations

from functools import lru_cache
from math import ceil
from urllib.parse import urlencode

from .. import cursors, listing, request
from ..cursors import Binding, Position, boundary_of
from ..signing import Signer
from ..state import current


def absolute_url(path: str) -> str:
    """`path` on the host the request came to (a create's `Location`)."""
    return request.host_url() + path


def list_page(
    key: str,
    which: listing.Listing,
    user: int,
    parent: int,
    page: int,
    limit: int | None,
    q: str | None,
    done: bool | None,
    cursor: str | None,
) -> dict:
    """The contract's list envelope, with absolute `next`/`previous` that keep the query.

    Links carry `page` and `limit` for clients that count pages, and a `cursor` that reads
    on from the page's edge (bucketlist.cursors): at any depth as cheap as page 1, and
    neither repeating nor skipping rows inserted or deleted in between.
    """
    state = current()
    limit = limit or state.settings.page_size
    q = q or None
    binding = Binding(user, key, parent, q, done, limit)
    signing = _cursor_signer(state.tokens.secret)
    if cursor is None:
        counted, rows = listing.fetch_page(state.db, which, user, parent, page, limit, q, done)
        count = counted.total
        last_page = max(1, ceil(count / limit))
        has_older, has_newer = page * limit < count, page > 1
        previous_page = min(page - 1, last_page)
        after = Position("n", False, *boundary_of(rows[-1]), page + 1, counted) if rows else None
        before = Position("p", False, *boundary_of(rows[0]), page - 1, counted) if rows else None
    else:
        at = cursors.decode(signing, cursor, binding)
        found = listing.fetch_keyset(state.db, which, user, parent, limit, q, done, at)
        counted, rows, has_older, has_newer = found.count, found.rows, found.has_older, found.has_newer
        count = counted.total
        page = at.page
        previous_page = max(1, page - 1)
        if rows:
            after = Position("n", False, *boundary_of(rows[-1]), page + 1, counted)
            before = Position("p", False, *boundary_of(rows[0]), previous_page, counted)
        else:
            # Deleted meanwhile: the boundary row belongs to the other side, if it still exists.
            after = Position(
                "n", at.inclusive or at.direction == "p", at.created_at, at.id, page + 1, counted
            )
            before = Position(
                "p", at.inclusive or at.direction == "n", at.created_at, at.id, previous_page, counted
            )

    def link(target: int, position: Position | None) -> str:
        params: dict = {"page": target, "limit": limit}
        if q:
            params["q"] = q
        if done is not None:
            params["done"] = "true" if done else "false"
        if position is not None:
            params["cursor"] = cursors.encode(signing, position, binding)
        return request.base_url() + "?" + urlencode(params)

    return {
        "status": "success",
        "count": count,
        "page": page,
        "limit": limit,
        "next": link(page + 1, after) if has_older else None,
        "previous": link(previous_page, before) if has_newer else None,
        key: rows,
    }


@lru_cache(maxsize=4)
def _cursor_signer(secret: str) -> Signer:
    return cursors.signer(secret)
