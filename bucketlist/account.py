"""Erasing an account: every row of the user, in one transaction.

`PER_USER_ROWS` is the one place that lists them. A feature that keeps rows per user in a
table of its own adds its DELETE here (tables with `ON DELETE CASCADE` on users go anyway,
but listing them says so). Revoked tokens need nothing: they carry no user, and every token
of a user who is gone is refused as "Invalid token" (bucketlist.revocation finds no user).
"""

from __future__ import annotations

from pony.orm import Database

from .changes import run

PER_USER_ROWS = (
    "DELETE FROM changes WHERE user_id = $user",
    # items reference buckets without ON DELETE CASCADE: they go first.
    "DELETE FROM items WHERE bucket_id IN (SELECT id FROM buckets WHERE owner_id = $user)",
    "DELETE FROM buckets WHERE owner_id = $user",
    "DELETE FROM search_counts WHERE owner_id = $user",
    "DELETE FROM search_totals WHERE owner_id = $user",
    # Rows of other features keyed by this user go here. Its rate-limit count may live in Redis:
    # the handler clears it (RateLimiter.forget_user) once this transaction has committed.
    "DELETE FROM users WHERE id = $user",
)


def erase(db: Database, user: int) -> None:
    """Delete everything of `user`, inside the caller's transaction (which holds the user's row
    lock from `changes.begin_write`, so no write of theirs can slip in between)."""
    for statement in PER_USER_ROWS:
        run(db, statement, {"user": user})
