"""What one application instance owns: settings, database, token service, route table."""

from __future__ import annotations

from dataclasses import dataclass

import flask
from pony.orm import Database

from . import request
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
    """The state of the application serving this request (middleware.StateMiddleware put it
    in the request's scope); inside a Flask app context without one, that app's."""
    scope = request.scope()
    if scope is not None:
        return scope[request.STATE_KEY]
    return flask.current_app.extensions[EXTENSION_KEY]
