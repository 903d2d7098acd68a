"""The database half of the bearer check: is this token's user there, and the token still good?

It runs for every protected request, before validation, on the event loop (connexion calls
the bearer function there). Handing it to a thread pool and a Pony session cost several
times the query itself (one indexed row), so it is one plain DB-API statement. On
PostgreSQL with handlers on the loop, it runs on the connection Pony keeps for the thread,
between sessions (one backend per request, not two), within that connection's bounds (a 5 s
lock timeout, a 10 s statement timeout: no longer than a handler may hold the loop anyway).
Otherwise (SQLite, or handlers in a pool) it has a connection of its own, one per process, with
2 s timeouts. Either way a database that stops answering costs a bounded wait and a 503.
"""

from __future__ import annotations

from typing import Any

from .config import Settings
from .connections import LOST, BorrowedConnection, OwnConnection
from .errors import INVALID_TOKEN, REVOKED_TOKEN, Unauthorized, unavailable

TIMEOUT_SECONDS = 2
STANDING_SQL = (
    "SELECT token_version, EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = {mark})"
    " FROM users WHERE id = {mark}"
)


class RevocationCheck:
    def __init__(self, settings: Settings, db: Any = None) -> None:
        """`db`: the app's Pony database, whose connection the check borrows on PostgreSQL (None:
        a connection of its own)."""
        own = OwnConnection(settings, timeout=TIMEOUT_SECONDS, name="auth")
        self._connection: OwnConnection | BorrowedConnection = (
            own if settings.is_sqlite or db is None else BorrowedConnection(db, own)
        )
        self._sql = STANDING_SQL.format(mark=self._connection.placeholder)

    def refuse_if_revoked(self, claims: dict) -> None:
        """Refuse a token of an unknown user, logged out, or older than a password reset."""
        standing = self.standing(int(claims["sub"]), claims["jti"])
        if standing is None:
            raise Unauthorized(INVALID_TOKEN)
        version, revoked = standing
        if revoked or claims["ver"] != version:
            raise Unauthorized(REVOKED_TOKEN)

    def standing(self, user_id: int, jti: str) -> tuple[int, bool] | None:
        """(token_version, revoked) for the user, or None if there is no such user."""
        try:
            # A read in autocommit: tried once more on a new connection if this one had dropped.
            row = self._connection.fetchone(self._sql, (jti, user_id))
        except LOST as exc:
            raise unavailable() from exc
        return None if row is None else (row[0], bool(row[1]))

    def close(self) -> None:
        self._connection.close()
