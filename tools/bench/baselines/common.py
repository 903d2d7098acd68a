"""What both baselines share with the service: the token check, the arguments and the JSON.

Kept beside the baselines (not imported from `bucketlist`) so that they stay what they
claim to be: hand-written apps that answer the hot endpoints with the same bytes as the
service, from the same database, and refuse the same tokens. The SQL is in queries.py.
"""

from __future__ import annotations

import json
import os
from math import ceil
from urllib.parse import urlencode

import jwt

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5
REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "ver"]
DEFAULT_LIMIT = int(os.environ.get("BUCKETLIST_PAGE_SIZE", "20"))

NO_AUTH_HEADER = "Provide an authorization header"
INVALID_TOKEN = "Invalid token. Please sign in again"
EXPIRED_TOKEN = "Signature expired, Please sign in again"
REVOKED_TOKEN = "Token has been revoked, Please sign in again"


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if len(key.encode()) < 32:
        raise SystemExit("SECRET_KEY must be set (at least 32 bytes), the same as the service's")
    return key


def bearer_claims(header: str | None, key: str) -> dict:
    if not header or not header.strip():
        raise Refused(401, NO_AUTH_HEADER)
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, INVALID_TOKEN)
    try:
        claims = jwt.decode(
            token.strip(),
            key,
            algorithms=[ALGORITHM],
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Refused(401, EXPIRED_TOKEN) from None
    except jwt.InvalidTokenError:
        raise Refused(401, INVALID_TOKEN) from None
    sub = claims["sub"]
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and 0 < int(sub) < 2**31):
        raise Refused(401, INVALID_TOKEN)
    return claims


def check_auth_row(row, claims: dict) -> None:
    if row is None:
        raise Refused(401, INVALID_TOKEN)
    version, revoked = row
    if revoked or claims["ver"] != version:
        raise Refused(401, REVOKED_TOKEN)


def _int_arg(args, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise Refused(400, f"{name} must be an integer between {low} and {high}")
    return int(raw)


def list_arguments(args) -> tuple[int, int, str | None]:
    """page, limit, q from a query-string mapping; 400 for what the spec refuses."""
    page = _int_arg(args, "page", 1, 1, 2**31 - 1)
    limit = _int_arg(args, "limit", DEFAULT_LIMIT, 1, 100)
    q = args.get("q") or None
    if q is not None and (len(q) > 200 or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in q)):
        raise Refused(400, "q must not contain control characters")
    return page, limit, q


def page_body(base_url: str, key: str, page: int, limit: int, q: str | None, count: int, rows) -> bytes:
    """handlers/common.py's page_envelope, with rows already rendered."""

    def url(number: int) -> str:
        params: dict = {"page": number, "limit": limit}
        if q:
            params["q"] = q
        return base_url + "?" + urlencode(params)

    last_page = max(1, ceil(count / limit))
    body = {
        "status": "success",
        "count": count,
        "page": page,
        "limit": limit,
        "next": url(page + 1) if page * limit < count else None,
        "previous": url(min(page - 1, last_page)) if page > 1 else None,
        key: rows,
    }
    return dumps(body)


def item_body(body: dict) -> tuple[str, str | None, bool]:
    """name, description, done of a create-item body (the spec's checks are the service's work)."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Refused(400, "name is required")
    return name, body.get("description"), bool(body.get("done", False))


def deleted(bucket: int) -> bytes:
    return dumps(
        {"status": "success", "message": f"Successfully deleted the item from bucket with Id {bucket}"}
    )


def one_item(item: dict) -> bytes:
    return dumps({"status": "success", "item": item})


def dumps(body: dict) -> bytes:
    # Compact, UTF-8, one newline at the end: byte for byte what the service's Flask sends.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def failure(message: str) -> bytes:
    # bucketlist/errors.py renders refusals without Flask: no newline at the end.
    return json.dumps(
        {"status": "failed", "message": message}, ensure_ascii=False, separators=(",", ":")
    ).encode()
