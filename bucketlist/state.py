"""What one application instance owns: settings, database, token service, route table."""

from __future__ import annotations

from dataclasses import dataclass

import flask
from pony.orm import Database, db_session

from .config import Settings
from .errors import INVALID_TOKEN, REVOKED_TOKEN, Unauthorized
from .routes import RouteTable
from .security import TokenService

EXTENSION_KEY = "bucketlist"


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: Database
    tokens: TokenService
    routes: RouteTable

    def check_token(self, claims: dict) -> None:
        """Refuse a token of an unknown user, logged out, or older than a password reset."""
        with db_session:
            rows = self.db.select(
                "SELECT token_version,"
                " (SELECT COUNT(*) FROM revoked_tokens WHERE jti = $jti)"
                " FROM users WHERE id = $uid",
                {"jti": claims["jti"], "uid": int(claims["sub"])},
            )
        if not rows:
            raise Unauthorized(INVALID_TOKEN)
        version, revoked = rows[0]
        if revoked or claims["ver"] != version:
            raise Unauthorized(REVOKED_TOKEN)


def current() -> AppState:
    """The state of the application serving this request (handlers run inside Flask)."""
    return flask.current_app.extensions[EXTENSION_KEY]
