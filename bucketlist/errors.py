"""Every failure leaves the service as the contract's envelope, rendered here and only here."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping

import psycopg2
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from pony.orm.core import (
    CommitException,
    OptimisticCheckError,
    RollbackException,
    UnrepeatableReadError,
)
from pony.orm.dbapiprovider import IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from . import metrics

logger = logging.getLogger("bucketlist")

RETRY_AFTER_SECONDS = 5
# What a 503 is counted and logged as a database failure for: Pony's wrappers, and the
# drivers' own errors, which the token check's connection raises (bucketlist.revocation).
DATABASE_FAILURES = (
    OperationalError,
    InterfaceError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    sqlite3.OperationalError,
)

NO_AUTH_HEADER = "Provide an authorization header"
INVALID_TOKEN = "Invalid token. Please sign in again"
EXPIRED_TOKEN = "Signature expired, Please sign in again"
REVOKED_TOKEN = "Token has been revoked, Please sign in again"
WRONG_CONTENT_TYPE = "Content-type must be json"
ENDPOINT_NOT_FOUND = "Endpoint not found"
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL"
UNAVAILABLE = "The service is temporarily unavailable, please try again shortly"
INTERNAL_ERROR = "Something went wrong on our side; it has been logged"


class ApiError(Exception):
    """Raised by handlers and middleware; rendered into the envelope by `render_error`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: Iterable[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = [dict(e) for e in errors] if errors else None
        self.headers = dict(headers or {})


class Unauthorized(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(401, message, headers={"WWW-Authenticate": "Bearer"})


def unavailable() -> ApiError:
    """The database (or the rate-limit store) cannot answer now: 503, try again shortly."""
    return ApiError(503, UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def envelope(message: str, errors: list | None = None) -> dict:
    body: dict = {"status": "failed", "message": message}
    if errors:
        body["errors"] = errors
    return body


def error_body(message: str, errors: list | None = None) -> bytes:
    return json.dumps(envelope(message, errors), ensure_ascii=False, separators=(",", ":")).encode()


def error_response(
    status: int, message: str, errors: list | None = None, headers: Mapping[str, str] | None = None
) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        mimetype="application/json",
        body=error_body(message, errors),
        headers=dict(headers or {}),
    )


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """`exc` is one of `kinds`, or wraps one (Pony wraps driver errors, also at commit)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, kinds):
            return True
        if isinstance(exc, (CommitException, RollbackException)) and getattr(exc, "exceptions", None):
            exc = exc.exceptions[0][1]
        else:
            exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def classify(request: ConnexionRequest, exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ProblemException):
        return _from_problem(request, exc)
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return ApiError(404, ENDPOINT_NOT_FOUND)
        if exc.status_code == 405:
            return ApiError(405, METHOD_NOT_ALLOWED)
        return ApiError(exc.status_code, str(exc.detail), headers=exc.headers)
    if isinstance(exc, (OptimisticCheckError, UnrepeatableReadError)) or _caused_by(exc, (IntegrityError,)):
        # Concurrent writes that the database refused to interleave: nothing was stored.
        return ApiError(409, "The resource was changed by another request at the same time; try again")
    if _caused_by(exc, (OperationalError, InterfaceError)):
        return unavailable()
    return ApiError(500, INTERNAL_ERROR)


def _from_problem(request: ConnexionRequest, exc: ProblemException) -> ApiError:
    if exc.status == 401:
        # connexion's own security errors: no header, or a scheme other than Bearer.
        has_header = bool(request.headers.get("authorization", "").strip())
        return Unauthorized(INVALID_TOKEN if has_header else NO_AUTH_HEADER)
    if exc.status == 415:
        return ApiError(415, WRONG_CONTENT_TYPE)
    detail = exc.detail or exc.title or "Bad request"
    return ApiError(exc.status, str(detail))


def allowed_methods_for(request: ConnexionRequest) -> str | None:
    state = request.scope.get("bucketlist")
    return state.routes.allow_header(request.url.path) if state else None


def log_server_error(request: ConnexionRequest, exc: Exception, error: ApiError) -> None:
    """One record per 5xx; the request id is added to it by the log handler (bucketlist.logs)."""
    if error.status == 500:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    elif _caused_by(exc, DATABASE_FAILURES):
        metrics.database_error()
        cause = str(exc.__cause__ or exc).strip().splitlines()
        logger.warning("%d database unavailable: %s", error.status, cause[0] if cause else type(exc).__name__)
    else:
        logger.warning("%d %s", error.status, error.message)


async def render_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    error = classify(request, exc)
    if error.status >= 500:
        log_server_error(request, exc, error)
    headers = dict(error.headers)
    if error.status == 405:
        allow = allowed_methods_for(request)
        if allow:
            headers["Allow"] = allow
    return error_response(error.status, error.message, error.errors, headers)
