"""Baseline: the hot endpoints hand-written in Flask + psycopg2, as the 2017 service was.

Same token check (PyJWT, then the revocation row), the same statements as the service
(queries.py, `best=False`), the same JSON. Run by `python -m tools.bench` as:

    SECRET_KEY=... DATABASE_URL=postgresql://... \
        gunicorn -w 2 --chdir tools/bench/baselines flask_baseline:app

`DATABASE_URL=sqlite:///path` works too (the standard library's sqlite3).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable

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
from flask import Flask, Response, request

DATABASE_URL = os.environ.get("DATABASE_URL", "")
DIALECT = "sqlite" if DATABASE_URL.startswith("sqlite:") else "postgresql"
KEY = secret_key()
_local = threading.local()

app = Flask(__name__)


def connection():
    """One connection per thread, opened after gunicorn forked (psycopg2 reconnects by thread)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        if DIALECT == "sqlite":
            path = DATABASE_URL[len("sqlite:///") :]
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            conn.create_function("py_lower", 1, lambda text: text.lower() if text is not None else None)
        else:
            import psycopg2

            # Transactions are begun explicitly (queries.py), as psycopg2 would before a write.
            conn = psycopg2.connect(DATABASE_URL, options="-c datestyle=ISO")
            conn.autocommit = True
        _local.conn = conn
    return conn


def _execute(cursor) -> Callable[[str, dict], list[tuple]]:
    def execute(sql: str, params: dict) -> list[tuple]:
        cursor.execute(sql if DIALECT == "sqlite" else queries.for_psycopg2(sql), params)
        return cursor.fetchall() if cursor.description else []

    return execute


def _json(body: bytes, status: int = 200, **headers) -> Response:
    return Response(body, status=status, mimetype="application/json", headers=headers)


def answer(work: Callable[[Callable, int], tuple[bytes, int, dict]]) -> Response:
    """The token check, then `work(execute, user)`; refusals rendered as the service does."""
    conn = connection()
    cursor = conn.cursor()
    try:
        claims = bearer_claims(request.headers.get("Authorization"), KEY)
        execute = _execute(cursor)
        user = int(claims["sub"])
        check_auth_row(queries.run_sync(queries.standing(user, claims["jti"]), execute), claims)
        body, status, headers = work(execute, user)
    except Refused as refused:
        _end_transaction(conn)
        extra = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else {}
        return _json(failure(refused.message), refused.status, **extra)
    except BaseException:
        _end_transaction(conn)  # the connection serves this thread's next request
        raise
    finally:
        cursor.close()
    return _json(body, status, **headers)


def _end_transaction(conn) -> None:
    in_transaction = conn.in_transaction if DIALECT == "sqlite" else conn.info.transaction_status != 0
    if in_transaction:
        conn.cursor().execute("ROLLBACK")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(400, "Content-type must be json")
    return body


def _list(key: str, parent: int | None) -> Response:
    def work(execute, user):
        page, limit, q = list_arguments(request.args)
        plan = queries.list_page(key, DIALECT, user, user if parent is None else parent, page, limit, q)
        count, rows = queries.run_sync(plan, execute)
        return page_body(request.base_url.rstrip("/"), key, page, limit, q, count, rows), 200, {}

    return answer(work)


@app.route("/v1/bucketlists", methods=["GET"])
@app.route("/v1/bucketlists/", methods=["GET"])
def list_buckets():
    return _list("buckets", None)


@app.route("/v1/bucketlists/<int:bucket>/items", methods=["GET"])
@app.route("/v1/bucketlists/<int:bucket>/items/", methods=["GET"])
def list_items(bucket: int):
    return _list("items", bucket)


@app.route("/v1/bucketlists/<int:bucket>/items", methods=["POST"])
@app.route("/v1/bucketlists/<int:bucket>/items/", methods=["POST"])
def create_item(bucket: int):
    def work(execute, user):
        name, description, done = item_body(_body())
        plan = queries.create_item(DIALECT, False, user, bucket, name, description, done)
        item = queries.run_sync(plan, execute)
        location = f"{request.host_url.rstrip('/')}/v1/bucketlists/{bucket}/items/{item['id']}"
        return one_item(item), 201, {"Location": location}

    return answer(work)


@app.route("/v1/bucketlists/<int:bucket>/items/<int:item>", methods=["GET"])
def get_item(bucket: int, item: int):
    def work(execute, user):
        return (
            one_item(queries.run_sync(queries.get_item(DIALECT, False, user, bucket, item), execute)),
            200,
            {},
        )

    return answer(work)


@app.route("/v1/bucketlists/<int:bucket>/items/<int:item>", methods=["PUT"])
def update_item(bucket: int, item: int):
    def work(execute, user):
        plan = queries.update_item(DIALECT, False, user, bucket, item, _body())
        return one_item(queries.run_sync(plan, execute)), 200, {}

    return answer(work)


@app.route("/v1/bucketlists/<int:bucket>/items/<int:item>", methods=["DELETE"])
def delete_item(bucket: int, item: int):
    def work(execute, user):
        queries.run_sync(queries.delete_item(DIALECT, False, user, bucket, item), execute)
        return deleted(bucket), 200, {}

    return answer(work)
