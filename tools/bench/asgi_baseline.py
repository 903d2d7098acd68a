"""Baseline: `GET /v1/bucketlists` as a minimal ASGI app (Starlette routing + asyncpg).

The ceiling for Python on this box: no validation framework, no ORM, no thread hand-offs.
Same token check, SQL and JSON as the service. Run by tools/bench.py as:

    SECRET_KEY=... DATABASE_URL=postgresql://... \
        uvicorn --workers 2 --no-access-log --app-dir tools/bench asgi_baseline:app
"""

from __future__ import annotations

import contextlib
import os

import asyncpg
from common import (
    AUTH_SQL,
    COUNT_SQL,
    NAME_FILTER,
    PAGE_SQL,
    Refused,
    bearer_claims,
    check_auth_row,
    failure,
    like_pattern,
    list_arguments,
    page_body,
    secret_key,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KEY = secret_key()
# Ten per process, as many as the service's a2wsgi threads (each holds one Pony connection).
POOL_SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "10"))

AUTH = AUTH_SQL.format("$1", "$2")
COUNT = COUNT_SQL.format(owner="$1", name_filter="")
PAGE = PAGE_SQL.format(owner="$1", name_filter="", limit="$2", offset="$3")
COUNT_Q = COUNT_SQL.format(owner="$1", name_filter=NAME_FILTER.format("$2"))
PAGE_Q = PAGE_SQL.format(owner="$1", name_filter=NAME_FILTER.format("$4"), limit="$2", offset="$3")


def _json(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def list_buckets(request: Request) -> Response:
    try:
        claims = bearer_claims(request.headers.get("authorization"), KEY)
        page, limit, q = list_arguments(request.query_params)
        user = int(claims["sub"])
        async with request.app.state.pool.acquire() as conn:
            check_auth_row(await conn.fetchrow(AUTH, claims["jti"], user), claims)
            if q:
                pattern = like_pattern(q)
                count = await conn.fetchval(COUNT_Q, user, pattern)
                rows = await conn.fetch(PAGE_Q, user, limit, (page - 1) * limit, pattern)
            else:
                count = await conn.fetchval(COUNT, user)
                rows = await conn.fetch(PAGE, user, limit, (page - 1) * limit)
    except Refused as refused:
        headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
        return _json(failure(refused.message), refused.status, headers)
    base_url = str(request.url.replace(query="")).rstrip("/")
    return _json(page_body(base_url, page, limit, q, count, rows))


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    url = os.environ["DATABASE_URL"]
    app.state.pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/v1/bucketlists", list_buckets, methods=["GET"]),
        Route("/v1/bucketlists/", list_buckets, methods=["GET"]),
    ],
    lifespan=lifespan,
)
