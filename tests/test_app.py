"""The application factory: the request pipeline is built in the order `app.pipeline` declares,
and responses are serialised as the standard library would."""

from __future__ import annotations

import hashlib
import json

from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware

from bucketlist.app import pipeline
from bucketlist.conditional import etag_of
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


# Quotes, a backslash, non-ASCII, the line separators JavaScript once choked on, a
# byte-order mark and an emoji outside the BMP; descriptions may hold tabs and new lines too.
AWKWARD_NAME = 'Sé "the" \\ back Tromsø \u2028\u2029\ufeff 🐻 東京'
AWKWARD_TEXT = AWKWARD_NAME + "\tone\r\ntwo\n"


def standard_json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def test_responses_and_etags_are_the_bytes_the_standard_library_writes(client, user):
    """Responses go out through orjson (dispatch.answer), ETags hash the same bytes: both stay
    what compact `json.dumps` wrote, so no client sees a byte or a tag change."""
    made = client.post("/v1/bucketlists", json={"name": AWKWARD_NAME}, headers=user.headers)
    assert made.status_code == 201, made.text
    bucket = made.json()
    item = client.post(
        f"/v1/bucketlists/{bucket['id']}/items",
        json={"name": AWKWARD_NAME, "description": AWKWARD_TEXT, "done": True},
        headers=user.headers,
    )
    assert item.status_code == 201, item.text
    assert bucket["name"] == AWKWARD_NAME and item.json()["item"]["description"] == AWKWARD_TEXT
    for response in (
        made,
        item,
        client.get(f"/v1/bucketlists/{bucket['id']}/items/{item.json()['item']['id']}", headers=user.headers),
        client.get("/v1/bucketlists", headers=user.headers),
        client.get(f"/v1/bucketlists/{bucket['id']}/items", headers=user.headers),
    ):
        assert response.status_code in (200, 201), response.text
        assert response.content == standard_json(response.json()) + b"\n"
    fields = item.json()["item"]
    tag = '"' + hashlib.sha256(standard_json(fields)).digest()[:16].hex() + '"'
    assert etag_of(fields) == tag == item.headers["ETag"]
