"""What the bucket and item handlers share: ownership, rendering, paging."""

from __future__ import annotations

from math import ceil
from urllib.parse import urlencode

import flask

from ..errors import not_found
from ..shapes import BUCKET, ITEM
from ..state import current

# An entity as the API shows it: the same rendering as a row of a list.
bucket_fields = BUCKET.render_entity
item_fields = ITEM.render_entity


def owned_bucket(user: int, bucket_id: int, *, for_write: bool = False):
    """The user's bucket, or 404: someone else's bucket is indistinguishable from none.

    `for_write` locks the bucket's row until the transaction ends, so writes to a bucket and
    its items take turns: of two deletes one finds nothing (404) instead of both counting
    the row as gone, and an item cannot be added to a bucket that is being deleted.
    """
    Bucket = current().db.Bucket
    query = Bucket.select(lambda b: b.id == bucket_id and b.owner.id == user)
    bucket = (query.for_update() if for_write else query).first()
    if bucket is None:
        raise not_found("Bucket")
    return bucket


def owned_item(user: int, bucket_id: int, item_id: int, *, for_write: bool = False):
    bucket = owned_bucket(user, bucket_id, for_write=for_write)
    item = current().db.Item.select(lambda i: i.id == item_id and i.bucket == bucket).first()
    if item is None:
        raise not_found("Item")
    return item


def absolute_url(path: str) -> str:
    return flask.request.host_url.rstrip("/") + path


def page_envelope(key: str, count: int, rows: list[dict], page: int, limit: int, q: str | None) -> dict:
    """The contract's list envelope, with absolute `next`/`previous` that keep q and limit."""
    last_page = max(1, ceil(count / limit))
    return {
        "status": "success",
        "count": count,
        "page": page,
        "limit": limit,
        "next": _page_url(page + 1, limit, q) if page * limit < count else None,
        "previous": _page_url(min(page - 1, last_page), limit, q) if page > 1 else None,
        key: rows,
    }


def _page_url(page: int, limit: int, q: str | None) -> str:
    params: dict = {"page": page, "limit": limit}
    if q:
        params["q"] = q
    return _base_url() + "?" + urlencode(params)


# werkzeug rebuilds the URL (host checks, IRI quoting) on every request, 3 % of the
# instructions of a list request; it depends on these parts of the request only.
_URL_PARTS = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO")
_BASE_URLS: dict[tuple, str] = {}
_BASE_URLS_KEPT = 1024


def _base_url() -> str:
    environ = flask.request.environ
    key = tuple(environ.get(part) for part in _URL_PARTS)
    url = _BASE_URLS.get(key)
    if url is None:
        if len(_BASE_URLS) >= _BASE_URLS_KEPT:
            _BASE_URLS.clear()
        url = _BASE_URLS[key] = flask.request.base_url
    return url
