"""Baseline: the hot endpoints as a minimal ASGI app (Starlette routing + asyncpg): the limit.

The ceiling for Python on this box: no validation framework, no ORM, no thread hand-offs, and
the best SQL we know (queries.py, `best=True`: each write one statement). Same token check
and JSON as the service. Run by `python -m tools.bench` as:

    SECRET_KEY=... DATABASE_URL=postgresql://... \
        uvicorn --workers 2 --no-access-log --app-dir tools/bench/baselines asgi_baseline:app
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Awaitable, Callable

import asyncpg
import queries
from common import (
    Refused,
    bearer_claims,
    check_auth_row,
    deleted,
    failure,
    item_body,
    list_arguments,
    one_item,
    page_body,
    secret_key,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KEY = secret_key()
DIALECT = "postgresql"
# Ten per process, as many connections as the service's Pony pool may hold per worker.
POOL_SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "10"))

Work = Callable[[Callable, int], Awaitable[tuple[bytes, int, dict | None]]]


def _json(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def answer(request: Request, work: Work) -> Response:
    """The token check, then `work(execute, user)` on one pooled connection."""
    try:
        claims = bearer_claims(request.headers.get("authorization"), KEY)
        user = int(claims["sub"])
        async with request.app.state.pool.acquire() as conn:

            async def execute(sql: str, params: dict) -> list:
                text, args = queries.for_asyncpg(sql, params)
                return [tuple(row) for row in await conn.fetch(text, *args)]

            row = await queries.run_async(queries.standing(user, claims["jti"]), execute)
            check_auth_row(row, claims)
            body, status, headers = await work(execute, user)
    except Refused as refused:
        headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
        return _json(failure(refused.message), refused.status, headers)
    return _json(body, status, headers)


async def _body(request: Request) -> dict:
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(400, "Content-type must be json")
    return body


def _base_url(request: Request) -> str:
    return str(request.url.replace(query="")).rstrip("/")


async def list_buckets(request: Request) -> Response:
    return await _list(request, "buckets")


async def list_items(request: Request) -> Response:
    return await _list(request, "items")


async def _list(request: Request, key: str) -> Response:
    async def work(execute, user):
        page, limit, q = list_arguments(request.query_params)
        parent = request.path_params.get("bucket", user)
        plan = queries.list_page(key, DIALECT, user, parent, page, limit, q)
        count, rows = await queries.run_async(plan, execute)
        return page_body(_base_url(request), key, page, limit, q, count, rows), 200, None

    return await answer(request, work)


async def create_item(request: Request) -> Response:
    bucket = request.path_params["bucket"]

    async def work(execute, user):
        name, description, done = item_body(await _body(request))
        plan = queries.create_item(DIALECT, True, user, bucket, name, description, done)
        item = await queries.run_async(plan, execute)
        location = f"{request.url.scheme}://{request.url.netloc}/v1/bucketlists/{bucket}/items/{item['id']}"
        return one_item(item), 201, {"Location": location}

    return await answer(request, work)


async def item(request: Request) -> Response:
    bucket, item_id = request.path_params["bucket"], request.path_params["item"]

    async def work(execute, user):
        if request.method == "GET":
            plan = queries.get_item(DIALECT, True, user, bucket, item_id)
            return one_item(await queries.run_async(plan, execute)), 200, None
        if request.method == "PUT":
            plan = queries.update_item(DIALECT, True, user, bucket, item_id, await _body(request))
            return one_item(await queries.run_async(plan, execute)), 200, None
        await queries.run_async(queries.delete_item(DIALECT, True, user, bucket, item_id), execute)
        return deleted(bucket), 200, None

    return await answer(request, work)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    url = os.environ["DATABASE_URL"]
    app.state.pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await app.state.pool.close()


ITEMS = "/v1/bucketlists/{bucket:int}/items"
app = Starlette(
    routes=[
        Route("/v1/bucketlists", list_buckets, methods=["GET"]),
        Route("/v1/bucketlists/", list_buckets, methods=["GET"]),
        Route(ITEMS, list_items, methods=["GET"]),
        Route(ITEMS + "/", list_items, methods=["GET"]),
        Route(ITEMS, create_item, methods=["POST"]),
        Route(ITEMS + "/", create_item, methods=["POST"]),
        Route(ITEMS + "/{item:int}", item, methods=["GET", "PUT", "DELETE"]),
    ],
    lifespan=lifespan,
)
