"""The application factory: the request pipeline is built in the order `app.pipeline` declares."""

from __future__ import annotations

from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware

from bucketlist.app import pipeline
from bucketlist.middleware import (
    AlwaysCORSMiddleware,
    BareOptionsMiddleware,
    BodyLimitMiddleware,
    ImpliedPathsMiddleware,
    StateMiddleware,
)
from bucketlist.observability import ObservabilityMiddleware
from bucketlist.turns import TurnsMiddleware


def built_stack(app) -> list[type]:
    """The classes of the app's middleware stack, outermost first (connexion's own included)."""
    return [getattr(entry, "func", entry) for entry in app.middleware.middlewares]


def test_the_pipeline_is_built_in_its_declared_order(app, settings):
    stack = built_stack(app)
    state = app.app.extensions["bucketlist"]
    ours = [middleware for middleware, _position, _options in pipeline(settings, state, {"paths": {}})]
    assert [cls for cls in stack if cls in ours] == ours


def test_what_each_layer_must_wrap(app):
    stack = built_stack(app)
    at = stack.index
    # Every answer, errors and preflights included, is counted and carries a request id.
    assert at(ObservabilityMiddleware) == 1  # just inside starlette's last-resort error handler
    # Error answers carry the CORS headers: CORS wraps connexion's error rendering.
    assert at(AlwaysCORSMiddleware) < at(ExceptionMiddleware)
    # The error rendering finds the state in the scope; a bare OPTIONS is answered on the path
    # the rewrite gives (`/v1/bucketlists/` lists the methods of `/v1/bucketlists`).
    assert (
        at(StateMiddleware) < at(ImpliedPathsMiddleware) < at(BareOptionsMiddleware) < at(ExceptionMiddleware)
    )
    # The body is read whole before a request takes its turn on the loop, and both before
    # connexion routes, authenticates and validates it.
    assert at(ExceptionMiddleware) < at(BodyLimitMiddleware) < at(TurnsMiddleware) < at(SwaggerUIMiddleware)
    assert (
        at(TurnsMiddleware) < at(RoutingMiddleware) < at(SecurityMiddleware) < at(RequestValidationMiddleware)
    )
