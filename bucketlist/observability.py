"""Every request gets an id, a line in the access log and its count in the metrics.

The outermost middleware, so that every answer goes through it: errors, 404s, CORS
preflights and the docs included. It runs on every request, the tuned list endpoint too,
so it does little: the operation comes from connexion's routing (which writes it into a
dict this middleware hands down in the scope), and nothing is parsed that the log line does
not need.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass

from connexion.middleware.abstract import ROUTING_CONTEXT
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import INTERNAL_ERROR, error_body
from .logs import ACCESS_LOGGER, current_request_id, loggable_target
from .metrics import UNMATCHED, Metrics

SCOPE_KEY = "bucketlist.observed"
REQUEST_ID_HEADER = b"x-request-id"
CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}\Z")
# An answer never started: the client went away first (nginx's convention).
CLIENT_CLOSED = 499

access_log = logging.getLogger(ACCESS_LOGGER)
logger = logging.getLogger("bucketlist")


@dataclass
class Observed:
    """What the log line of one request needs from further in: who asked."""

    request_id: str
    user: int | None = None


def note_user(scope: Scope, user: int) -> None:
    """Called by the bearer check once the token is good: the log line names the user."""
    observed = scope.get(SCOPE_KEY)
    if observed is not None:
        observed.user = user


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's own X-Request-ID when it is a safe token, else a new random one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:  # ASGI servers lower-case header names
            if CLIENT_REQUEST_ID.match(value):
                return value.decode("ascii")
            break
    return secrets.token_hex(12)


def operation_labels(spec: dict, handlers_package: str) -> dict[str, str]:
    """connexion names a routed operation by its handler (`bucketlist.handlers.auth.login`);
    the metrics use the spec's operationId (`auth.login`), and only those."""
    return {
        f"{handlers_package}.{operation['operationId']}": operation["operationId"]
        for item in spec.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None, operations: dict[str, str]) -> None:
        self.app = app
        self.metrics = metrics
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        observed = scope[SCOPE_KEY] = Observed(request_id)
        # connexion's routing fills this very dict (it copies the scope, not its contents):
        # the one reach into connexion's internals, guarded by tests/test_operations.py.
        routing: dict = {}
        scope.setdefault("extensions", {})[ROUTING_CONTEXT] = routing
        # As the client sent it: the middleware below rewrites the path (`/` is the docs).
        path = (scope.get("raw_path") or scope["path"].encode()).decode("ascii", "backslashreplace")
        query = scope.get("query_string", b"")
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = CLIENT_CLOSED

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        context = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Below, connexion renders every error; this is a bug in a middleware around it.
            logger.exception("unhandled error outside the application")
            if status == CLIENT_CLOSED:
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": error_body(INTERNAL_ERROR)})
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"]
            if self.metrics is not None:
                operation = self.operations.get(routing.get("operation_id"), UNMATCHED)
                self.metrics.observe(operation, method, status, seconds)
            target = loggable_target(path, query.decode("ascii", "backslashreplace"))
            access_log.info(
                "%s %s %d %.1fms user=%s",
                method,
                target,
                status,
                seconds * 1000,
                observed.user,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": target,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "user_id": observed.user,
                },
            )
            current_request_id.reset(context)
