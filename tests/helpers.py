"""Helpers shared by the API tests: paths, the error envelope, timestamps, links, and requests
that must succeed.

A plain module, not fixtures: the test files import it as `from helpers import ...` (pytest puts
tests/ on sys.path, as for live_server.py).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

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


def assert_refused_id(response, param: str) -> None:
    """A malformed id in the path: 400 naming `param`, or a 404 of the contract."""
    assert response.status_code in (400, 404), response.text
    body = assert_failed(response, response.status_code)
    if response.status_code == 404:
        assert body["message"] in ("Bucket not found", "Item not found", "Endpoint not found")
    else:
        assert param in body["message"] or param in error_fields(body)


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


# --- requests ---------------------------------------------------------------------------


def send_json(client, method: str, url: str, account, payload):
    """Sends JSON with ASCII escapes, so that a lone surrogate (not valid Unicode) can be sent at all."""
    headers = {**account.headers, "Content-Type": "application/json"}
    return client.request(method, url, content=json.dumps(payload), headers=headers)


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
