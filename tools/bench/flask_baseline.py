"""Baseline: `GET /v1/bucketlists` hand-written in Flask + psycopg2, as the 2017 service was.

Same token check (PyJWT, then the revocation row), same SQL, same JSON as the service.
Run by tools/bench.py as:

    SECRET_KEY=... DATABASE_URL=postgresql://... \
        gunicorn -w 2 -k gthread --threads 4 --chdir tools/bench flask_baseline:app

`DATABASE_URL=sqlite:///path` works too (the standard library's sqlite3).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime

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
from flask import Flask, Response, request

DATABASE_URL = os.environ.get("DATABASE_URL", "")
SQLITE = DATABASE_URL.startswith("sqlite:")
KEY = secret_key()
MARK = "?" if SQLITE else "%s"
_local = threading.local()

app = Flask(__name__)


def connection():
    """One connection per thread, opened after gunicorn forked (psycopg2 reconnects by thread)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        if SQLITE:
            conn = sqlite3.connect(DATABASE_URL[len("sqlite:///") :], check_same_thread=False)
        else:
            import psycopg2

            conn = psycopg2.connect(DATABASE_URL)
            conn.autocommit = True
        _local.conn = conn
    return conn


def _datetime(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _json(body: bytes, status: int = 200, **headers) -> Response:
    return Response(body, status=status, mimetype="application/json", headers=headers)


@app.route("/v1/bucketlists", methods=["GET"])
@app.route("/v1/bucketlists/", methods=["GET"])
def list_buckets():
    try:
        claims = bearer_claims(request.headers.get("Authorization"), KEY)
        page, limit, q = list_arguments(request.args)
        cursor = connection().cursor()
        user = int(claims["sub"])
        cursor.execute(AUTH_SQL.format(MARK, MARK), (claims["jti"], user))
        check_auth_row(cursor.fetchone(), claims)
        name_filter, params = "", [user]
        if q:
            name_filter, params = NAME_FILTER.format(MARK), [user, like_pattern(q)]
        cursor.execute(COUNT_SQL.format(owner=MARK, name_filter=name_filter), params)
        count = cursor.fetchone()[0]
        page_sql = PAGE_SQL.format(owner=MARK, name_filter=name_filter, limit=MARK, offset=MARK)
        cursor.execute(page_sql, [*params, limit, (page - 1) * limit])
        rows = [(r[0], r[1], _datetime(r[2]), _datetime(r[3])) for r in cursor.fetchall()]
        cursor.close()
    except Refused as refused:
        extra = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else {}
        return _json(failure(refused.message), refused.status, **extra)
    return _json(page_body(request.base_url.rstrip("/"), page, limit, q, count, rows))
