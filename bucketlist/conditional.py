"""Conditional requests (RFC 9110 §8.8.3, §13): strong ETags, If-Match and If-None-Match.

A resource's tag is a hash of the representation the API renders for it, so it changes
whenever any field does (modifiedAt has microseconds: two renames to the same name in a row
still differ) and the tag of a write's answer is the one the next GET computes.

Checking `If-Match` and writing are one atomic step because every write first takes the
user's row lock (`changes.begin_write`; on SQLite that first statement opens the transaction
with `BEGIN IMMEDIATE`, the database's write lock) and holds it to the commit, before it reads
the resource. A second writer holding the same tag waits, then reads the first one's result
and gets 412.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import orjson

from . import request
from .errors import ApiError

# An entity-tag (RFC 9110 §8.8.3): optional weakness marker, then a quoted opaque string.
_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def etag_of(fields: dict[str, Any]) -> str:
    """The strong tag of a rendered resource: 128 bits of SHA-256 of its JSON (about 2 µs).

    The JSON is the response's (orjson, as `dispatch.answer` writes it): the renderers build
    their dicts in one fixed key order, so no sorting is needed."""
    return '"' + hashlib.sha256(orjson.dumps(fields)).digest()[:16].hex() + '"'


def parse_tags(header: str) -> list[tuple[bool, str]] | None:
    """[(weak, opaque tag)] of a list of entity-tags, or None when the value is not one."""
    tags: list[tuple[bool, str]] = []
    position = 0
    header = header.strip()
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if match is None or match.end() == position:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return tags


def if_match_fails(header: str | None, tag: str) -> bool:
    """True when `If-Match` is present and names neither `*` nor `tag` (strong comparison).

    A value that is not a list of entity-tags matches nothing, so the write is refused.
    """
    if header is None:
        return False
    if header.strip() == "*":
        return False  # the resource exists: the caller found it
    tags = parse_tags(header) or []
    return not any(not weak and opaque == tag for weak, opaque in tags)


def if_none_match_hits(header: str | None, tag: str) -> bool:
    """True when `If-None-Match` names `tag` or `*` (weak comparison, as for GET)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(opaque == tag for _weak, opaque in parse_tags(header) or [])


def require_current(read: Callable[[], dict[str, Any]], what: str) -> None:
    """Refuse a write whose `If-Match` names a tag that is no longer the resource's (412).

    The resource is read (and hashed) only when the request carries `If-Match`: most
    writes do not, and they pay nothing for it. `read()` answers 404 when it is not there."""
    header = request.header("if-match")
    if header is not None and if_match_fails(header, etag_of(read())):
        raise ApiError(412, f"The {what} has changed since you read it")


def tagged(body: dict[str, Any], fields: dict[str, Any], status: int = 200, headers: dict | None = None):
    """A handler's answer carrying the ETag of `fields`."""
    return body, status, {**(headers or {}), "ETag": etag_of(fields)}


def read(body: dict[str, Any], fields: dict[str, Any]):
    """A GET's answer: 304 with no body when `If-None-Match` names the current tag."""
    tag = etag_of(fields)
    if if_none_match_hits(request.header("if-none-match"), tag):
        return None, 304, {"ETag": tag}
    return body, 200, {"ETag": tag}
