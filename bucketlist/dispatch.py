"""Calling an operation's function with the request's arguments, and writing its JSON answer.

connexion routes every request, checks its token and validates it against the spec (its
middleware, before this); what is left is the last step: call the operation's function with
the spec's parameters and turn what it returns into the response. connexion's FlaskApp does
that step through Flask: a werkzeug request, Flask's routing and request context, connexion's
parameter and response decorators, a Flask response. That was half of the CPU of a GET of one
item, measured in process (README, Performance), for work that comes down to a few lines
once the request is valid: the path's integers, the query's values, the JSON body in, JSON
out. So for the operations whose answer is JSON the service takes that step itself, here,
with what connexion resolved from the spec (the function, its parameters, their defaults),
and gives the answer the same bytes and headers Flask gave.

Handlers stay plain functions of the spec's parameters (`user` and `token_info` from the
token) that return a dict, `(dict, status)` or `(dict, status, headers)`; a body of None is an
answer without one (304). The few helpers that need more of the request read it from
bucketlist.request. An exception goes up to connexion's error handling, as it did from Flask.

An operation whose handler is marked `@through_flask` (the metrics' text, the account
export's stream) is still served by Flask.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from werkzeug.urls import iri_to_uri

from . import request

JSON = "application/json"
_MISSING = object()
# Spec types a query or path parameter of a directly called operation may have, each with
# the conversion connexion applies to the (already validated) value.
_CASTS: dict[str, Callable[[str], Any]] = {"integer": int, "string": str}


def through_flask(handler: Callable) -> Callable:
    """Mark a handler whose answer is not a JSON document (text, a stream): Flask serves it."""
    handler.through_flask = True  # type: ignore[attr-defined]
    return handler


@dataclass(frozen=True)
class Call:
    """How to call one operation's function."""

    function: Callable[..., Any]
    path: tuple[tuple[str, Callable[[Any], Any]], ...]
    query: tuple[tuple[str, Callable[[str], Any], Any], ...]  # (name, cast, default or _MISSING)
    body: bool
    user: bool
    token_info: bool

    def __call__(self, scope: dict, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        arguments: dict[str, Any] = {}
        context = scope.get("extensions", {}).get("connexion_context", {})
        if self.user:
            arguments["user"] = context.get("user")
        if self.token_info:
            arguments["token_info"] = context.get("token_info")
        path = scope.get("path_params", {})
        for name, cast in self.path:
            arguments[name] = cast(path[name])
        if self.query:
            sent = QueryParams(scope["query_string"]) if scope.get("query_string") else {}
            for name, cast, default in self.query:
                value = sent.get(name)
                if value is not None:
                    arguments[name] = cast(value)
                elif default is not _MISSING:
                    arguments[name] = default
        if self.body:
            arguments["body"] = json.loads(body)
        token = request.bind(scope)
        try:
            result = self.function(**arguments)
        finally:
            request.reset(token)
        return answer(result, head=scope["method"] == "HEAD")


def answer(result: Any, *, head: bool = False) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of a handler's return value, as Flask wrote them."""
    status, extra = 200, {}
    if isinstance(result, tuple):
        result, status, *rest = result
        extra = rest[0] if rest else {}
    headers = [(name.lower().encode("latin-1"), _value(name, value)) for name, value in extra.items()]
    if result is None:
        return status, headers, b""
    # What connexion's Jsonifier wrote (compact `json.dumps`, then a newline): orjson writes
    # the same bytes for the values handlers return (tests/test_app.py), several times faster.
    content = orjson.dumps(result) + b"\n"
    headers += [(b"content-type", JSON.encode()), (b"content-length", str(len(content)).encode())]
    return status, headers, b"" if head else content


def _value(name: str, value: Any) -> bytes:
    # werkzeug sends a Location as a URI (a Host header's spaces or non-ASCII quoted): so here.
    text = iri_to_uri(value) if name.lower() == "location" else str(value)
    return text.encode("latin-1")


def plan(operation: Any) -> Call | None:
    """The direct call of a connexion operation; None when Flask must serve it."""
    function = operation.function
    if getattr(function, "through_flask", False) or JSON not in (operation.produces or [JSON]):
        return None
    accepted = inspect.signature(function).parameters
    path, query = [], []
    for parameter in operation.parameters:
        name, where = parameter["name"], parameter["in"]
        if where not in ("path", "query") or name not in accepted:
            continue
        schema = parameter.get("schema", {})
        cast = _CASTS.get(schema.get("type", "string"))
        if cast is None:
            return None  # a type connexion converts in ways not repeated here
        if where == "path":
            path.append((name, cast))
        else:
            query.append((name, cast, parameter.get("default", schema.get("default", _MISSING))))
    body = bool(operation.request_body)
    if body and (operation.body_name(JSON) != "body" or "body" not in accepted):
        return None
    return Call(
        function=function,
        path=tuple(path),
        query=tuple(query),
        body=body,
        user="user" in accepted,
        token_info="token_info" in accepted,
    )
