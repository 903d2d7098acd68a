"""The application factory."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml
from connexion import FlaskApp
from connexion.exceptions import ProblemException
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import RelativeResolver
from pony.orm import Database
from starlette.exceptions import HTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from . import adaptations, metrics
from . import migrate as migrations
from .config import Settings
from .errors import ApiError, render_error
from .health import ReadinessProbe
from .middleware import (
    AlwaysCORSMiddleware,
    BareOptionsMiddleware,
    BodyLimitMiddleware,
    ImpliedPathsMiddleware,
    StateMiddleware,
)
from .models import bind_database
from .observability import ObservabilityMiddleware, operation_labels
from .ratelimit import build_limiter
from .revocation import RevocationCheck
from .routes import RouteTable
from .security import TokenService
from .state import EXTENSION_KEY, AppState
from .turns import TurnsMiddleware
from .validation import validator_map
from .wsgi import BufferedWSGI

# bucketlist/openapi is a link to the top-level openapi/ folder; a wheel holds a copy.
SPEC_PATH = Path(__file__).parent / "openapi" / "bucketlist.yaml"
logger = logging.getLogger("bucketlist")
HANDLERS_PACKAGE = "bucketlist.handlers"
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
CORS_EXPOSED = ["Location", "WWW-Authenticate", "Retry-After", "ETag", "X-Request-ID", "Idempotent-Replayed"]
# Longer than any query of a request needs, short enough that a stuck database answers 503.
STATEMENT_TIMEOUT_MS = 10_000
# The longest any statement waits for a lock: the token check, which borrows the same
# connection (bucketlist.revocation), included. A write waits that long at most behind
# another of the same user's; past it, 503 and try again.
LOCK_TIMEOUT_MS = 5_000


def load_spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, migrate: bool = True
) -> FlaskApp:
    """Build the service. `settings` default to the environment; `db` to a new binding.

    `migrate` brings the schema up to date first (`bucketlist serve` does it once, before its
    workers start, and they skip it)."""
    settings = settings or Settings.from_env()
    secret = settings.resolved_secret_key()
    if migrate and db is None:
        migrations.apply(settings, report=logger.info)
    spec = load_spec()
    db = db or bind_database(
        settings, statement_timeout_ms=STATEMENT_TIMEOUT_MS, lock_timeout_ms=LOCK_TIMEOUT_MS
    )
    state = AppState(
        settings=settings,
        db=db,
        tokens=TokenService(secret=secret, ttl=settings.token_ttl, bcrypt_rounds=settings.bcrypt_rounds),
        routes=RouteTable(spec),
        # With handlers on the loop (threads=0) the token check shares their connection: its
        # waits block the loop no longer than theirs do. With a pool, it keeps its own, with
        # its own short timeouts, since the loop serves the other requests meanwhile.
        revocation=RevocationCheck(settings, None if settings.threads else db),
        readiness=ReadinessProbe(settings),
        limiter=build_limiter(settings),
    )

    app = FlaskApp(
        __name__,
        jsonifier=Jsonifier(json, ensure_ascii=False, separators=(",", ":")),
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui"),
    )
    app.add_api(
        adaptations.inline_path_parameters(spec),
        resolver=RelativeResolver(HANDLERS_PACKAGE),
        strict_validation=True,
        validate_responses=settings.validate_responses,
        validator_map=validator_map(),
    )
    app.app.extensions[EXTENSION_KEY] = state
    adaptations.memoise_connexion_inspection()
    adaptations.memoise_connexion_request_validation()
    adaptations.pass_swagger_ui_by()
    adaptations.bounded_integer_path_parameters()
    adaptations.replace_flask_bridge(
        app,
        lambda wsgi_app, fallback: BufferedWSGI(
            wsgi_app, fallback=fallback, threads=settings.threads, routes=state.routes
        ),
    )
    app.app.json.ensure_ascii = False
    app.app.json.compact = True

    for middleware, position, options in pipeline(settings, state, spec):
        app.add_middleware(middleware, position=position, **options)
    for exc_class in (ApiError, ProblemException, HTTPException, Exception):
        app.add_error_handler(exc_class, render_error)
    return app


def pipeline(settings: Settings, state: AppState, spec: dict) -> list[tuple[type, MiddlewarePosition, dict]]:
    """Our middleware, outermost first, in the places of connexion's stack they must take.

    The order is a rule of its own (tests/test_app.py checks the built stack against it):
    - Observability outermost: every answer, errors and preflights included, gets its request
      id, its count and its log line;
    - the client's address next (for the rate limits): one setting governs it, in the app, so
      the test client goes through it too (uvicorn's own proxy headers are off, cli.py);
    - CORS outside connexion's error rendering, so that error answers carry its headers;
    - the app state in the scope, then the paths the spec implies rewritten to the routed ones,
      then bare OPTIONS answered (on the routed path): all before routing and error rendering;
    - the body read whole (and its size limited) before a request takes its turn on the loop,
      so that whoever holds the turn never waits on a client; both before connexion's
      routing, security and validation.
    """
    before_errors = MiddlewarePosition.BEFORE_EXCEPTION
    before_routing = MiddlewarePosition.BEFORE_SWAGGER
    stack: list[tuple[type, MiddlewarePosition, dict]] = [
        (
            ObservabilityMiddleware,
            before_errors,
            {
                "metrics": metrics.instance() if settings.metrics else None,
                "operations": operation_labels(spec, HANDLERS_PACKAGE),
            },
        ),
        (ProxyHeadersMiddleware, before_errors, {"trusted_hosts": list(settings.forwarded_allow_ips)}),
        (
            AlwaysCORSMiddleware,
            before_errors,
            {
                "allow_origins": list(settings.cors_origins),
                "allow_methods": CORS_METHODS,
                "allow_headers": CORS_HEADERS,
                "expose_headers": CORS_EXPOSED,
                "max_age": 600,
            },
        ),
        (StateMiddleware, before_errors, {"state": state}),
        (ImpliedPathsMiddleware, before_errors, {"routes": state.routes}),
        (BareOptionsMiddleware, before_errors, {"routes": state.routes}),
        (BodyLimitMiddleware, before_routing, {"max_bytes": settings.max_body_bytes}),
    ]
    if not settings.threads:
        stack.append((TurnsMiddleware, before_routing, {}))
    return stack


def app_from_env() -> FlaskApp:
    """For `uvicorn --factory` workers: the schema was migrated before they started."""
    return create_app(migrate=False)
