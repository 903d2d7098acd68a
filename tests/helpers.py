"""Helpers shared by the API tests: paths, the error envelope, timestamps, links, and requests
that must succeed.

A plain module, not fixtures: the test files import it as `from helpers import ...` (pytest puts
tests/ on sys.path, as for live_server.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pony.orm import db_session

BUCKETS = "/v1/bucketlists"
MISSING_ID = 2147483647  # the largest id there is; never reached by a test database
BUCKET_NOT_FOUND = {"status": "failed", "message": "Bucket not found"}
NOTHING_TO_CHANGE = "No attribute or value was specified, nothing was changed"
UPDATE_METHODS = ["PUT", "PATCH"]
MAX_LISTED_ERRORS = 20  # then one more entry, {"field": null, "message": "and N more problems"}


def items_url(bucket_id: int | str) -> str:
    return f"{BUCKETS}/{bucket_id}/items"


def item_url(bucket_id: int | str, item_id: int | str) -> str:
    return f"{BUCKETS}/{bucket_id}/items/{item_id}"


# --- checks -----------------------------------------------------------------------------


def assert_failed(response, status: int, message: str | None = None) -> dict:
    """The error envelope: exactly {status: failed, message[, errors]}, errors being {field, message}:
    at most 20 naming a field, then possibly one with field null saying how many more there were."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "failed"
    assert set(body) <= {"status", "message", "errors"}
    assert isinstance(body["message"], str) and body["message"]
    errors = body.get("errors", [])
    if errors and errors[-1]["field"] is None:
        assert len(errors) == MAX_LISTED_ERRORS + 1, errors
        assert re.fullmatch(r"and [1-9][0-9]* more problems", errors[-1]["message"]), errors[-1]
        errors = errors[:-1]
    assert len(errors) <= MAX_LISTED_ERRORS
    for entry in errors:
        assert set(entry) == {"field", "message"}
        assert isinstance(entry["field"], str) and isinstance(entry["message"], str)
    if message is not None:
        assert body["message"] == message
    return body


def error_fields(body: dict) -> set[str]:
    return {entry["field"] for entry in body.get("errors", [])}


def assert_refused_id(response, param: str, bad_id: str) -> None:
    """A bad id in the path: a number out of range is a 400 naming `param` and its bound;
    anything that is not ASCII digits matches no route at all (404 "Endpoint not found")."""
    problem = OUT_OF_RANGE_IDS.get(bad_id)
    if problem is None:
        assert_failed(response, 404, "Endpoint not found")
    else:
        body = assert_failed(response, 400, f"{param} {problem}")
        assert param in error_fields(body)


def parse_timestamp(text: str) -> datetime:
    assert text.endswith("+00:00"), text
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(0)
    return moment


def assert_absolute_url(url: str, path: str) -> None:
    """`url` names a scheme and a host, and leads to `path`."""
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.netloc
    assert parts.path == path


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def digits_as(number: int, zero: str) -> str:
    """`number` written in the decimal digits that start at `zero` (say "\\u0660", Arabic-Indic)."""
    return "".join(chr(ord(zero) + int(d)) for d in str(number))


def snapshot(client, db, user, bucket_id: int) -> tuple:
    """Everything a write could have changed: the user's buckets, a bucket's items, and every
    account's email, password hash and token version."""
    buckets = client.get(BUCKETS, headers=user.headers).json()["buckets"]
    items = client.get(items_url(bucket_id), headers=user.headers).json()["items"]
    with db_session:
        users = sorted((u.email, u.password_hash, u.token_version) for u in db.User.select())
    return buckets, items, users


# --- bad input, shared by the bucket and item tests --------------------------------------

BAD_NAMES = {
    "empty": "",
    "spaces": "   ",
    "tab": "\t",
    "newline": "\n",
    "ideographic-space": "\u3000",
    "no-break-space": "\u00a0",
    "nul": "trip\x00",
    "nul-only": "\x00",
    "unit-separator": "a\x1fb",
    "record-separator-only": "\x1e",
    "delete": "a\x7f",
    "next-line": "a\x85b",
    "trailing-newline": "abc\n",
    "201-chars": "x" * 201,
    "201-emoji": "🎉" * 201,
}

# Ids made of ASCII digits reach validation, which names the bound they break.
OUT_OF_RANGE_IDS = {
    "0": "must be at least 1",
    "-1": "must be at least 1",
    "2147483648": "must be at most 2147483647",
    "99999999999999999999": "must be at most 2147483647",
}
BAD_IDS = [*OUT_OF_RANGE_IDS, "1_0", "١", "abc", "1.0", "1e1", "%201"]

# Python's int() would read each of these as the real id `n`.
ID_LOOKALIKES = {
    "underscore": lambda n: f"0_{n}",
    "leading-space": lambda n: f"%20{n}",
    "trailing-space": lambda n: f"{n}%20",
    "decimal": lambda n: f"{n}.0",
    "arabic-indic": lambda n: digits_as(n, "\u0660"),
    "fullwidth": lambda n: digits_as(n, "\uff10"),
    "devanagari": lambda n: digits_as(n, "\u0966"),
}


# --- requests ---------------------------------------------------------------------------


def send_json(client, method: str, url: str, account, payload):
    """Sends JSON with ASCII escapes, so that a lone surrogate (not valid Unicode) can be sent at all."""
    headers = {**account.headers, "Content-Type": "application/json"}
    return client.request(method, url, content=json.dumps(payload), headers=headers)


def send(client, method: str, url: str, account, payload: dict | None = None):
    """`method` on `url`; a write carries `payload`, or a harmless change."""
    if method in ("PUT", "PATCH", "POST"):
        return client.request(method, url, json=payload or {"name": "Changed"}, headers=account.headers)
    return client.request(method, url, headers=account.headers)


def json_of(response, status: int) -> dict:
    """The body of a response that must have `status`."""
    assert response.status_code == status, response.text
    return response.json()


def create_bucket(client, account, name: str = "Travel the world") -> dict:
    return json_of(client.post(BUCKETS, json={"name": name}, headers=account.headers), 201)


def get_bucket(client, account, bucket_id: int) -> dict:
    return json_of(client.get(f"{BUCKETS}/{bucket_id}", headers=account.headers), 200)["bucket"]


def list_buckets(client, account, **params) -> dict:
    return json_of(client.get(BUCKETS, params=params, headers=account.headers), 200)


def create_item(client, account, bucket_id: int, name: str = "See the northern lights", **fields) -> dict:
    response = client.post(items_url(bucket_id), json={"name": name, **fields}, headers=account.headers)
    return json_of(response, 201)["item"]


def get_item(client, account, bucket_id: int, item_id: int) -> dict:
    return json_of(client.get(item_url(bucket_id, item_id), headers=account.headers), 200)["item"]


def list_items(client, account, bucket_id: int, **params) -> dict:
    return json_of(client.get(items_url(bucket_id), params=params, headers=account.headers), 200)


def numbers(db) -> str:
    """A FROM source of the rows n = 1 .. $rows, as `s(n)`, in the database's dialect."""
    if db.provider.dialect == "PostgreSQL":
        return "generate_series(1, $rows) AS s(n)"
    return "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $rows) SELECT n FROM s)"


def insert_rows(db, bucket_id: int, rows: int, name: str) -> None:
    """`rows` items named `name n`, straight into the table (the counters' triggers count them;
    no change count is taken, as no write through the API would leave them); even n are done,
    seven per second of 2026-01-01."""
    created = (
        "timestamp '2026-01-01' + (n / 7) * interval '1 second', timestamp '2026-01-01'"
        if db.provider.dialect == "PostgreSQL"
        else "strftime('%Y-%m-%d %H:%M:%f000', '2026-01-01', '+' || (n / 7) || ' seconds'),"
        " '2026-01-01 00:00:00.000000'"
    )
    with db_session:
        db.execute(
            "INSERT INTO items (name, done, bucket_id, created_at, modified_at)"
            f" SELECT $name || ' ' || n, n % 2 = 0, $bucket, {created} FROM {numbers(db)}",
            {"bucket": bucket_id, "rows": rows, "name": name},
        )


def insert_buckets(db, owner: int, rows: int, name: str) -> None:
    """`rows` buckets named `name n`, straight into the table, as insert_rows does items."""
    with db_session:
        db.execute(
            "INSERT INTO buckets (name, owner_id, created_at, modified_at, item_count)"
            " SELECT $name || ' ' || n, $owner, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 0"
            f" FROM {numbers(db)}",
            {"owner": owner, "rows": rows, "name": name},
        )


# --- processes --------------------------------------------------------------------------


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc): the workers of `bucketlist serve`."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # ended meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


# --- databases --------------------------------------------------------------------------


@contextmanager
def shuttable_postgres_database(settings, prefix: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """A PostgreSQL database of its own (its URL), and a function that shuts everyone out of it."""
    import psycopg2

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = psycopg2.connect(**settings.postgres_params())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(settings.database_url)._replace(path=f"/{name}"))

    def shut() -> None:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )

    try:
        yield url, shut
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


# --- races ------------------------------------------------------------------------------


def race(apps: list, requests: list[tuple[str, str, dict | None, dict]]) -> list:
    """Send (method, path, json, headers) requests at once, each from its own client and thread,
    taking the apps in turn; their responses, in the order of the requests."""
    barrier = threading.Barrier(len(requests), timeout=30)
    responses: list = [None] * len(requests)

    def run(index: int, method: str, path: str, body: dict | None, headers: dict) -> None:
        with apps[index % len(apps)].test_client() as racer:
            barrier.wait()
            responses[index] = racer.request(method, path, json=body, headers=headers)

    threads = [threading.Thread(target=run, args=(i, *request)) for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses
