"""The request being answered, for what the handlers' helpers need beyond their arguments.

A handler takes the spec's parameters and returns its answer (bucketlist.dispatch); the few
helpers that need more of the request (a conditional request's `If-Match`, an
`Idempotency-Key`, the client's address for the rate limits, the host a `Location` or a page's
links are written on) read it here, from the ASGI scope the dispatcher binds while the
handler runs. The values are those Flask's request gave: headers joined as a WSGI server
joins them, URLs built by werkzeug itself.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from werkzeug.wrappers import Request

from .adaptations import wsgi_environ

# Where middleware.StateMiddleware puts the application's state in every request's scope.
STATE_KEY = "bucketlist"

_scope: ContextVar[dict] = ContextVar("bucketlist_request_scope")

_URLS: dict[tuple, str] = {}
_URLS_KEPT = 1024


def bind(scope: dict) -> Any:
    """Make `scope` the request of this context (the caller resets the token it returns)."""
    return _scope.set(scope)


def reset(token: Any) -> None:
    _scope.reset(token)


def scope() -> dict | None:
    """The ASGI scope of the request being answered; None outside one."""
    return _scope.get(None)


def header(name: str) -> str | None:
    """A request header (`name` in lower case), repeated ones joined with commas, or None.

    Read as a WSGI server reads them: `If_Match` is `If-Match` (both are HTTP_IF_MATCH)."""
    wanted = name.encode("latin-1")
    found = [
        value.decode("latin-1")
        for key, value in _scope.get()["headers"]
        if key == wanted or (b"_" in key and key.replace(b"_", b"-") == wanted)
    ]
    return ",".join(found) if found else None


def client_address() -> str | None:
    client = _scope.get().get("client")
    return client[0] if client else None


def host_url() -> str:
    """`scheme://host` the request came to, without a trailing slash (a create's `Location`)."""
    return _remembered("host", lambda request: request.host_url.rstrip("/"))


def base_url() -> str:
    """The request's URL without its query (a page's links)."""
    return _remembered("base", lambda request: request.base_url)


def _remembered(which: str, build: Callable[[Request], str]) -> str:
    """`build(werkzeug's request)`, remembered by the parts of the scope it depends on.

    werkzeug builds its URLs anew (host checks, IRI quoting) for every request: 3 % of the
    instructions of a list request (and of a create, for its Location)."""
    current = _scope.get()
    headers = current["headers"]
    host = tuple(value for key, value in headers if key == b"host")
    server = tuple(current.get("server") or ())  # a list in some ASGI servers' scopes
    key = (which, current.get("scheme"), host, server, current.get("root_path"), current["path"])
    url = _URLS.get(key)
    if url is None:
        if len(_URLS) >= _URLS_KEPT:
            _URLS.clear()
        # Without the query, which no URL built here depends on (and which a WSGI environ
        # cannot hold if it is not ASCII).
        url = _URLS[key] = build(Request(wsgi_environ({**current, "query_string": b""}, io.BytesIO())))
    return url
