"""What one application instance owns: settings, database, token service, route table."""

from __future__ import annotations

from dataclasses import dataclass

import flask
from pony.orm import Database

from .config import Settings
from .health import ReadinessProbe
from .ratelimit import NoLimits, RateLimiter
from .revocation import RevocationCheck
from .routes import RouteTable
from .security import TokenService

EXTENSION_KEY = "bucketlist"


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: Database
    tokens: TokenService
    routes: RouteTable
    revocation: RevocationCheck
    readiness: ReadinessProbe
    limiter: RateLimiter | NoLimits


def current() -> AppState:
    """The state of the application serving this request (handlers run inside Flask)."""
    return flask.current_app.extensions[EXTENSION_KEY]
