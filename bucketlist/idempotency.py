"""Idempotency-Key on the create operations (IETF httpapi draft "The Idempotency-Key HTTP
Header Field"): a retried POST returns the first answer instead of creating a second row.

Keys live in the `idempotency_keys` table, so every worker and host shares them. A keyed
request goes through three steps:

1. Claim (its own transaction, committed at once, so other workers see it): insert
   (user, key, fingerprint) marked in progress with a lease of `idempotency_lease` seconds
   and a random claim token. When the key is taken, the row decides: another request body
   → 422, still in progress → 409 (with Retry-After: the rest of the lease), answered →
   that answer again with `Idempotent-Replayed: true`.
2. The handler runs, and its answer is stored in the SAME transaction as the rows it
   created, on condition that the claim is still ours. A worker killed before that commit
   leaves neither (the retry, once the lease has run out, creates it); killed after, both
   (the retry replays). A request that outlived its lease and was taken over meanwhile
   rolls back and answers 409: whatever happens, a key creates at most one row.
3. An answer the draft says not to remember (5xx, 409, 429) frees the key instead.

Keys are kept 24 hours. Older rows are deleted by the requests themselves (at most one
DELETE a minute per process), and a key older than that is taken over like a new one.
Times come from the database's clock, so hosts need not agree on theirs.

Requests refused before the handler runs (401, 400 for a malformed body or key, 413, 415)
create nothing and are not recorded: the same request gets the same refusal again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from pony.orm import Database, db_session

from .errors import ApiError, envelope
from .listing import select
from .request import header
from .state import current

logger = logging.getLogger("bucketlist")

HEADER = "Idempotency-Key"
RETENTION_SECONDS = 24 * 3600
CLEANUP_INTERVAL_SECONDS = 60
REUSED = "Idempotency-Key reused with a different request"
IN_PROGRESS = "A request with this Idempotency-Key is in progress"
# The draft: every first answer is remembered but these, which a retry may turn around.
NOT_REMEMBERED = frozenset({409, 429})

# Seconds since the epoch, from the database's clock.
NOW_SQL = {
    "PostgreSQL": "extract(epoch from clock_timestamp())::double precision",
    "SQLite": "((julianday('now') - 2440587.5) * 86400.0)",
}

CLAIM_SQL = """
INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, claim, locked_until, created_at)
VALUES ($user, $key, $fingerprint, $claim, {now} + $lease, {now})
ON CONFLICT (user_id, idem_key) DO UPDATE SET
    fingerprint = excluded.fingerprint, claim = excluded.claim,
    locked_until = excluded.locked_until, created_at = excluded.created_at,
    status = NULL, response = NULL
WHERE (idempotency_keys.status IS NULL AND idempotency_keys.locked_until < {now})
    OR idempotency_keys.created_at < {now} - $retention
"""
LOOKUP_SQL = """
SELECT fingerprint, status, response, locked_until - {now}
FROM idempotency_keys WHERE user_id = $user AND idem_key = $key
"""
COMPLETE_SQL = """
UPDATE idempotency_keys SET status = $status, response = $response, locked_until = NULL
WHERE user_id = $user AND idem_key = $key AND claim = $claim
"""
RELEASE_SQL = "DELETE FROM idempotency_keys WHERE user_id = $user AND idem_key = $key AND claim = $claim"
CLEANUP_SQL = "DELETE FROM idempotency_keys WHERE created_at < {now} - $retention"

_last_cleanup: WeakKeyDictionary[Database, float] = WeakKeyDictionary()

Answer = tuple[dict[str, Any], int, dict[str, str]]


def fingerprint(operation: str, arguments: dict[str, Any]) -> str:
    """The request as the handler sees it: the same JSON value gives the same fingerprint,
    whatever the key order or whitespace of the body."""
    canonical = json.dumps([operation, arguments], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(handler: Callable[..., Answer]) -> Callable[..., Answer]:
    """Honour `Idempotency-Key` on a create handler (one that returns (body, status, headers))."""
    operation = f"{handler.__module__}.{handler.__qualname__}"

    @functools.wraps(handler)
    def keyed(**arguments: Any) -> Answer:
        key = header(HEADER.lower())
        if key is None:
            return handler(**arguments)
        state = current()
        keys = KeyStore(state.db, arguments["user"], key)
        request = {name: value for name, value in arguments.items() if name != "user"}
        remembered = keys.claim(fingerprint(operation, request), state.settings.idempotency_lease)
        if remembered is not None:
            return remembered
        try:
            with db_session:
                answer = handler(**arguments)
                keys.complete(answer)
        except ApiError as error:
            if error.status < 500 and error.status not in NOT_REMEMBERED:
                keys.complete_refusal(error)
            else:
                keys.release()
            raise
        except BaseException:
            keys.release()
            raise
        return answer

    return keyed


class KeyStore:
    """One user's key, as claimed by one request."""

    def __init__(self, db: Database, user: int, key: str) -> None:
        self.db = db
        self.now = NOW_SQL[db.provider.dialect]
        self.args: dict[str, Any] = {"user": user, "key": key, "claim": secrets.token_hex(16)}

    def claim(self, request_fingerprint: str, lease: int) -> Answer | None:
        """None when this request now holds the key; otherwise the answer to give instead."""
        args = {
            **self.args,
            "fingerprint": request_fingerprint,
            "lease": lease,
            "retention": RETENTION_SECONDS,
        }
        for _attempt in range(3):
            with db_session:
                if self.db.provider.dialect == "PostgreSQL":
                    # The claim need not survive a crash of the database server: the request
                    # holding it dies with it, and its answer is stored only where the claim is.
                    # Not waiting for the disk makes a keyed create cost one flush, not two.
                    self.db.execute("SET LOCAL synchronous_commit TO OFF")
                self._clean_up_now_and_then()
                if self.db.execute(CLAIM_SQL.format(now=self.now), args).rowcount:
                    return None
                rows = select(self.db, LOOKUP_SQL.format(now=self.now), args)
            if not rows:
                continue  # released between our insert and our read: claim it again
            stored_fingerprint, status, response, lease_left = rows[0]
            if stored_fingerprint != request_fingerprint:
                raise ApiError(422, REUSED)
            if status is None:
                retry_after = max(1, math.ceil(lease_left or 0))
                raise ApiError(409, IN_PROGRESS, headers={"Retry-After": str(retry_after)})
            stored = json.loads(response)
            return stored["body"], status, {**stored["headers"], "Idempotent-Replayed": "true"}
        raise ApiError(409, IN_PROGRESS, headers={"Retry-After": "1"})

    def complete(self, answer: Answer) -> None:
        """Store the answer in the handler's transaction; 409 (and a rollback) if the claim
        was taken over because this request outlived its lease."""
        body, status, headers = answer
        self._store(status, {"body": body, "headers": headers})

    def complete_refusal(self, error: ApiError) -> None:
        """Remember a refusal (say 404 for a missing bucket); nothing was created."""
        try:
            with db_session:
                self._store(
                    error.status, {"body": envelope(error.message, error.errors), "headers": error.headers}
                )
        except ApiError:
            pass  # the claim was taken over: the other request answers for the key

    def release(self) -> None:
        """Free the key so a retry can run: the answer was not one to remember."""
        try:
            with db_session:
                self.db.execute(RELEASE_SQL, self.args)
        except Exception:  # noqa: BLE001 - the caller's own error is the one to report
            # The lease runs out anyway: a retry waits for it at worst.
            logger.warning("could not release an Idempotency-Key; it frees itself when its lease ends")

    def _store(self, status: int, response: dict[str, Any]) -> None:
        text = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
        args = {**self.args, "status": status, "response": text}
        if not self.db.execute(COMPLETE_SQL, args).rowcount:
            raise ApiError(409, IN_PROGRESS, headers={"Retry-After": "1"})

    def _clean_up_now_and_then(self) -> None:
        moment = time.monotonic()
        if moment - _last_cleanup.get(self.db, -math.inf) < CLEANUP_INTERVAL_SECONDS:
            return
        _last_cleanup[self.db] = moment
        self.db.execute(CLEANUP_SQL.format(now=self.now), {"retention": RETENTION_SECONDS})
