"""Incremental sync: operationId `sync.sync` in the spec (see bucketlist.changes)."""

from __future__ import annotations

import functools

from pony.orm import db_session

from .. import changes
from ..state import current


@functools.cache
def _tokens(secret: str) -> changes.SyncTokens:
    return changes.SyncTokens(secret)


@db_session
def sync(user: int, since: str | None = None, limit: int = changes.DEFAULT_LIMIT) -> dict:
    state = current()
    return changes.read_page(state.db, _tokens(state.tokens.secret), user, since, limit)
