"""The envelope and the transport: routing, CORS, content types, body limits, hostile bodies,
the documentation, unexpected errors, dates, and an unavailable database.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

import pytest
import yaml
from helpers import BUCKETS, assert_failed, create_bucket, create_item, shuttable_postgres_database, snapshot
from pony.orm import db_session

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00\Z")
FORBIDDEN_IN_ERRORS = (
    "Traceback",
    'File "',
    ".py",
    "/usr/",
    "site-packages",
    "pony",
    "flask",
    "connexion",
    "werkzeug",
    "starlette",
    "psycopg",
    "sqlite",
    "SELECT",
    "INSERT",
)


@pytest.fixture
def bucket(client, user) -> int:
    return create_bucket(client, user)["id"]


@pytest.fixture
def item(client, user, bucket) -> int:
    return create_item(client, user, bucket)["id"]


# --- routing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/nowhere",
        "/v1/bucketlists/1/nowhere",
        "/v1/bucketlists/1/items/1/more",
        "/v1/auth",
        "/nowhere",
        "/v2/bucketlists",
    ],
)
@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "signed in"])
def test_unknown_path(client, user, path, authenticated):
    response = client.get(path, headers=user.headers if authenticated else {})
    assert_failed(response, 404, "Endpoint not found")


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("DELETE", "/v1/bucketlists", {"GET", "POST"}),
        ("PUT", "/v1/bucketlists", {"GET", "POST"}),
        ("POST", "/v1/bucketlists/1", {"GET", "PUT", "PATCH", "DELETE"}),
        ("PATCH", "/v1/bucketlists/1/items", {"GET", "POST"}),
        ("POST", "/v1/bucketlists/1/items/1", {"GET", "PUT", "PATCH", "DELETE"}),
        ("GET", "/v1/auth/login", {"POST"}),
        ("DELETE", "/v1/auth/register", {"POST"}),
        ("GET", "/v1/auth/logout", {"POST"}),
        ("PUT", "/v1/auth/reset/password", {"POST"}),
        ("DELETE", "/v1/bucketlists/", {"GET", "POST"}),
        ("POST", "/v1/bucketlists/1/items/1/", {"GET", "PUT", "PATCH", "DELETE"}),
    ],
)
def test_method_not_allowed(client, user, method, path, allowed):
    response = client.request(method, path, headers=user.headers)

    assert_failed(response, 405, "The method is not allowed for the requested URL")
    allow = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed <= allow
    # HEAD goes with GET and OPTIONS with everything; nothing else may be offered.
    assert allow <= allowed | {"HEAD", "OPTIONS"}
    assert method not in allow


# Every operation, with the body and the status it succeeds with; {b} and {i} are ids.
OPERATIONS = [
    ("POST", "/v1/auth/register", {"email": "new@bucketmail.com", "password": "secret"}, 201),
    ("POST", "/v1/auth/login", {"email": "user1@bucketmail.com", "password": "secret-password"}, 200),
    ("POST", "/v1/auth/logout", None, 200),
    (
        "POST",
        "/v1/auth/reset/password",
        {
            "oldPassword": "secret-password",
            "newPassword": "new-password",
            "passwordConfirmation": "new-password",
        },
        200,
    ),
    ("GET", "/v1/bucketlists", None, 200),
    ("POST", "/v1/bucketlists", {"name": "Another"}, 201),
    ("GET", "/v1/bucketlists/{b}", None, 200),
    ("PUT", "/v1/bucketlists/{b}", {"name": "Renamed"}, 200),
    ("PATCH", "/v1/bucketlists/{b}", {"name": "Renamed"}, 200),
    ("DELETE", "/v1/bucketlists/{b}", None, 200),
    ("GET", "/v1/bucketlists/{b}/items", None, 200),
    ("POST", "/v1/bucketlists/{b}/items", {"name": "Another"}, 201),
    ("GET", "/v1/bucketlists/{b}/items/{i}", None, 200),
    ("PUT", "/v1/bucketlists/{b}/items/{i}", {"done": True}, 200),
    ("PATCH", "/v1/bucketlists/{b}/items/{i}", {"done": True}, 200),
    ("DELETE", "/v1/bucketlists/{b}/items/{i}", None, 200),
]


@pytest.mark.parametrize("slash", ["", "/"], ids=["no slash", "trailing slash"])
@pytest.mark.parametrize(
    "method, path, body, status", OPERATIONS, ids=[f"{m} {p}" for m, p, _, _ in OPERATIONS]
)
def test_every_path_with_and_without_a_trailing_slash(
    client, user, bucket, item, slash, method, path, body, status
):
    url = path.format(b=bucket, i=item) + slash

    response = client.request(method, url, json=body, headers=user.headers, follow_redirects=False)

    assert response.status_code == status, response.text
    assert response.json()["status"] == "success"


@pytest.mark.parametrize("path", ["/v1", "/v1/"])
def test_the_base_path_itself_is_not_found_without_a_redirect(client, path):
    """Nothing is served at /v1: starlette's routers redirected it to /v1/, served as /v1."""
    response = client.get(path, follow_redirects=False)

    assert_failed(response, 404, "Endpoint not found")


# --- CORS ---------------------------------------------------------------------------

ANSWERS = {
    "200": ("GET", BUCKETS, {}, True, 200),
    "401": ("GET", BUCKETS, {}, False, 401),
    "404": ("GET", "/v1/nowhere", {}, True, 404),
    "400": ("POST", "/v1/auth/login", {"json": {}}, False, 400),
    "405": ("DELETE", BUCKETS, {}, True, 405),
    "415": (
        "POST",
        "/v1/auth/login",
        {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
        False,
        415,
    ),
    "spec": ("GET", "/v1/openapi.json", {}, False, 200),
}


@pytest.mark.parametrize("origin", [None, "https://somewhere.example.net"], ids=["no origin", "origin"])
@pytest.mark.parametrize("method, path, extra, signed_in, status", ANSWERS.values(), ids=ANSWERS.keys())
def test_every_answer_carries_cors_headers(client, user, origin, method, path, extra, signed_in, status):
    headers = {**extra.get("headers", {}), **(user.headers if signed_in else {})}
    if origin:
        headers["Origin"] = origin
    kwargs = {key: value for key, value in extra.items() if key != "headers"}

    response = client.request(method, path, headers=headers, **kwargs)

    assert response.status_code == status, response.text
    # Any origin is allowed by default, and no cookies are used: the answer is "*" for all.
    assert response.headers["access-control-allow-origin"] == "*"


PREFLIGHTS = [
    ("/v1/auth/register", "POST"),
    ("/v1/auth/login", "POST"),
    ("/v1/auth/logout", "POST"),
    ("/v1/auth/reset/password", "POST"),
    ("/v1/bucketlists", "GET"),
    ("/v1/bucketlists/1", "PATCH"),
    ("/v1/bucketlists/1", "DELETE"),
    ("/v1/bucketlists/1/items", "POST"),
    ("/v1/bucketlists/1/items/1", "PUT"),
]


def header_set(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


@pytest.mark.parametrize("slash", ["", "/"], ids=["no slash", "trailing slash"])
@pytest.mark.parametrize("path, method", PREFLIGHTS, ids=[f"{m} {p}" for p, m in PREFLIGHTS])
def test_preflight(client, path, method, slash):
    origin = "https://app.somewhere.example.net"
    response = client.options(
        path + slash,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        follow_redirects=False,
    )

    assert response.status_code == 204
    assert response.content == b""  # no plain-text body where clients expect JSON or nothing
    assert response.headers["access-control-allow-origin"] == "*"
    assert {"get", "post", "put", "patch", "delete"} <= header_set(
        response.headers["access-control-allow-methods"]
    )
    assert {"authorization", "content-type"} <= header_set(response.headers["access-control-allow-headers"])


ALLOWED_ORIGIN = "https://app.example.org"
OTHER_ORIGIN = "https://evil.example.net"


def preflight_from(client, origin: str):
    return client.options(
        BUCKETS, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}, follow_redirects=False
    )


def test_configured_origins_are_allowed(client, user, make_app):
    with make_app(cors_origins=(ALLOWED_ORIGIN,)).test_client() as restricted:
        preflight = preflight_from(restricted, ALLOWED_ORIGIN)
        answer = restricted.get(BUCKETS, headers={**user.headers, "Origin": ALLOWED_ORIGIN})
        error = restricted.get(BUCKETS, headers={"Origin": ALLOWED_ORIGIN})

    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert error.status_code == 401
    assert error.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_other_origins_are_not_allowed(client, user, make_app):
    with make_app(cors_origins=(ALLOWED_ORIGIN,)).test_client() as restricted:
        preflight = preflight_from(restricted, OTHER_ORIGIN)
        answer = restricted.get(BUCKETS, headers={**user.headers, "Origin": OTHER_ORIGIN})

    assert preflight.status_code == 400
    assert preflight.json()["status"] == "failed"  # JSON like every other answer
    for response in (preflight, answer):
        assert response.headers.get("access-control-allow-origin") not in ("*", OTHER_ORIGIN)


# --- content type and size ----------------------------------------------------------

WRITES = {
    "register": ("POST", "/v1/auth/register", '{"email": "new@bucketmail.com", "password": "secret"}'),
    "create bucket": ("POST", BUCKETS, '{"name": "Travel"}'),
    "update bucket": ("PUT", BUCKETS + "/{b}", '{"name": "Travel"}'),
    "patch item": ("PATCH", BUCKETS + "/{b}/items/{i}", '{"done": true}'),
}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
@pytest.mark.parametrize("method, path, body", WRITES.values(), ids=WRITES.keys())
def test_body_must_be_json(client, db, user, bucket, item, method, path, body, content_type):
    headers = {**user.headers, **({"Content-Type": content_type} if content_type else {})}
    before = snapshot(client, db, user, bucket)

    response = client.request(method, path.format(b=bucket, i=item), content=body.encode(), headers=headers)

    assert_failed(response, 415, "Content-type must be json")
    assert snapshot(client, db, user, bucket) == before


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/json;charset=UTF-8"]
)
def test_json_with_a_charset_is_json(client, user, content_type):
    response = client.post(
        BUCKETS, content=b'{"name": "Travel"}', headers={**user.headers, "Content-Type": content_type}
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def small_app(client, make_app):
    with make_app(max_body_bytes=2048).test_client() as small:
        yield small


def padded(document: dict, size: int) -> bytes:
    """`document` as JSON, padded with white space to exactly `size` bytes."""
    raw = json.dumps(document).encode()
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def test_body_over_the_limit(small_app, user):
    response = small_app.post(BUCKETS, json={"name": "x" * 3000}, headers=user.headers)

    body = assert_failed(response, 413)
    assert "2048" in body["message"]
    assert small_app.get(BUCKETS, headers=user.headers).json()["count"] == 0


def test_body_of_exactly_the_limit(small_app, user):
    raw = padded({"name": "Travel"}, 2048)

    response = small_app.post(
        BUCKETS, content=raw, headers={**user.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 201, response.text


def chunked(raw: bytes, size: int = 100):
    # A generator makes httpx send the body chunked, without Content-Length.
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def test_chunked_body_over_the_limit(small_app, user):
    raw = json.dumps({"name": "x" * 3000}).encode()

    response = small_app.post(
        BUCKETS, content=chunked(raw), headers={**user.headers, "Content-Type": "application/json"}
    )

    assert "2048" in assert_failed(response, 413)["message"]


@pytest.mark.parametrize(
    "path, document, status",
    [
        (BUCKETS, {"name": "Travel the world"}, 201),
        ("/v1/auth/login", {"email": "user1@bucketmail.com", "password": "secret-password"}, 200),
    ],
)
def test_chunked_body_is_accepted(client, user, path, document, status):
    raw = json.dumps(document).encode()

    response = client.post(
        path, content=chunked(raw, 7), headers={**user.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == status, response.text
    if path == BUCKETS:
        assert response.json()["name"] == "Travel the world"


# --- hostile bodies -----------------------------------------------------------------

# Whole bodies.
HOSTILE_BODIES = {
    "malformed": b'{"name": "x"',
    "trailing garbage": b'{"name": "x"} x',
    "single quotes": b"{'name': 'x'}",
    "empty": b"",
    "white space only": b"   ",
    "top-level array": b'["name"]',
    "top-level string": b'"name"',
    "top-level number": b"42",
    "top-level null": b"null",
    "top-level true": b"true",
    "nested 100000 deep": b"[" * 100000,
    "object nested 100000 deep": b'{"a":' * 100000,
    "invalid UTF-8 outside strings": b'{"name": "x"}\xff',
    "UTF-16": '{"name": "x"}'.encode("utf-16"),
}

# Values put where a string belongs.
HOSTILE_VALUES = {
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
    "1e400": b"1e400",
    "5000-digit integer": b"1" * 5000,
    "lone high surrogate": b'"abcd\\ud800"',
    "lone low surrogate": b'"abcd\\udc00"',
    "reversed surrogate pair": b'"abcd\\udc00\\ud800"',
    "NUL escaped": b'"abcd\\u0000efgh"',
    "NUL raw": b'"abcd\x00efgh"',
    "invalid UTF-8": b'"abcd\xff\xfe"',
    "overlong UTF-8": b'"abcd\xc0\xaf"',
    "UTF-8 encoded surrogate": b'"abcd\xed\xa0\x80"',
    "nested 100000 deep": b"[" * 100000 + b"]" * 100000,
}

# Where the hostile value goes: an otherwise valid body.
HOSTILE_TARGETS = {
    "register": ("POST", "/v1/auth/register", b'{"email": %s, "password": "secret"}'),
    "create bucket": ("POST", BUCKETS, b'{"name": %s}'),
    "update bucket": ("PUT", BUCKETS + "/{b}", b'{"name": %s}'),
    "create item": ("POST", BUCKETS + "/{b}/items", b'{"name": "ok", "description": %s}'),
    "update item": ("PATCH", BUCKETS + "/{b}/items/{i}", b'{"name": %s}'),
}


def send_raw(client, user, bucket: int, item: int, target: str, raw: bytes):
    method, path, _ = HOSTILE_TARGETS[target]
    headers = {**user.headers, "Content-Type": "application/json"}
    return client.request(method, path.format(b=bucket, i=item), content=raw, headers=headers)


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
@pytest.mark.parametrize("raw", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_body(client, db, user, bucket, item, target, raw):
    before = snapshot(client, db, user, bucket)

    response = send_raw(client, user, bucket, item, target, raw)

    assert_failed(response, 400)
    assert snapshot(client, db, user, bucket) == before


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_hostile_value(client, db, user, bucket, item, target, value):
    before = snapshot(client, db, user, bucket)

    response = send_raw(client, user, bucket, item, target, HOSTILE_TARGETS[target][2] % value)

    assert_failed(response, 400)
    assert snapshot(client, db, user, bucket) == before


@pytest.mark.parametrize("path", ["/v1/auth/register", "/v1/auth/login"])
def test_password_that_is_not_valid_unicode(client, db, path):
    raw = b'{"email": "new@bucketmail.com", "password": "\\ud800\\ud800\\ud800\\ud800"}'

    response = client.post(path, content=raw, headers={"Content-Type": "application/json"})

    assert_failed(response, 400)
    with db_session:
        assert db.User.select().count() == 0


def test_password_reset_with_a_lone_surrogate(client, user):
    raw = (
        b'{"oldPassword": "secret-password",'
        b' "newPassword": "\\ud800abcd", "passwordConfirmation": "\\ud800abcd"}'
    )

    response = client.post(
        "/v1/auth/reset/password", content=raw, headers={**user.headers, "Content-Type": "application/json"}
    )

    assert_failed(response, 400)
    assert (
        client.post("/v1/auth/login", json={"email": user.email, "password": user.password}).status_code
        == 200
    )


# --- documentation ------------------------------------------------------------------


def test_docs_page_and_its_assets(client):
    page = client.get("/", follow_redirects=False)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "swagger" in page.text.lower()
    assets = re.findall(r'(?:src|href)="\./([^"]+)"', page.text)
    assert "swagger-ui.css" in assets
    for asset in assets:
        assert client.get(f"/{asset}", follow_redirects=False).status_code == 200, asset
    # The page loads the spec from the URL it names.
    spec_url = re.search(r'url: "([^"]+)"', page.text).group(1)
    assert client.get(spec_url).json()["paths"]


def test_spec_as_json(client):
    response = client.get("/v1/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert {"/auth/register", "/bucketlists/{bucket_id}/items/{item_id}"} <= set(spec["paths"])


def test_spec_as_yaml(client):
    response = client.get("/v1/openapi.yaml")

    assert response.status_code == 200
    spec = yaml.safe_load(response.text)
    assert {"/auth/login", "/bucketlists"} <= set(spec["paths"])
    assert spec == client.get("/v1/openapi.json").json()


# --- unexpected errors --------------------------------------------------------------


def test_unexpected_exception_is_a_bare_500(client, make_app):
    def boom():
        # What a bug deep in a library looks like: its name and a file path in the message.
        raise RuntimeError('pony.orm failed in File "/usr/lib/python3/site-packages/pony/orm/core.py"')

    app = make_app()
    # Under /v1: a single-segment path such as /boom is read as an asset of the docs page.
    app.app.add_url_rule("/v1/boom", "boom", boom)
    with app.test_client() as boom_client:
        response = boom_client.get("/v1/boom", headers={"Origin": "https://app.example.org"})

    body = assert_failed(response, 500)
    assert "errors" not in body
    for word in FORBIDDEN_IN_ERRORS:
        assert word.lower() not in response.text.lower(), word
    assert response.headers["access-control-allow-origin"] == "*"


# --- dates and envelopes ------------------------------------------------------------


def dates_in(document) -> list[str]:
    if isinstance(document, dict):
        found = [v for k, v in document.items() if k in ("createdAt", "modifiedAt")]
        return found + [d for v in document.values() for d in dates_in(v)]
    if isinstance(document, list):
        return [d for v in document for d in dates_in(v)]
    return []


def test_dates_are_iso_8601_utc_with_an_offset(client, user, bucket, item):
    responses = [
        client.get(BUCKETS, headers=user.headers),
        client.get(f"{BUCKETS}/{bucket}", headers=user.headers),
        client.put(f"{BUCKETS}/{bucket}", json={"name": "Renamed"}, headers=user.headers),
        client.get(f"{BUCKETS}/{bucket}/items", headers=user.headers),
        client.get(f"{BUCKETS}/{bucket}/items/{item}", headers=user.headers),
        client.patch(f"{BUCKETS}/{bucket}/items/{item}", json={"done": True}, headers=user.headers),
    ]

    dates = [d for response in responses for d in dates_in(response.json())]
    assert len(dates) == 12
    for text in dates:
        assert ISO_UTC.match(text), text
        moment = datetime.fromisoformat(text)
        assert moment.utcoffset() == timedelta(0)
        assert abs(datetime.now(moment.tzinfo) - moment) < timedelta(minutes=5)


ERRORS = {
    "400 validation": ("POST", BUCKETS, {"json": {"name": ""}}, 400),
    "400 query": ("GET", BUCKETS + "?page=0", {}, 400),
    "400 unknown field": ("POST", BUCKETS, {"json": {"name": "x", "owner": 2}}, 400),
    "401": ("GET", BUCKETS, {"headers": {"Authorization": "Bearer nope"}}, 401),
    "404 bucket": ("GET", BUCKETS + "/999", {}, 404),
    "404 path": ("GET", "/v1/nope", {}, 404),
    "405": ("PUT", BUCKETS, {}, 405),
    "409": (
        "POST",
        "/v1/auth/register",
        {"json": {"email": "user1@bucketmail.com", "password": "secret"}},
        409,
    ),
    "415": ("POST", BUCKETS, {"content": b'{"name": "x"}', "headers": {"Content-Type": "text/plain"}}, 415),
}


@pytest.mark.parametrize("method, path, extra, status", ERRORS.values(), ids=ERRORS.keys())
def test_every_error_is_the_envelope(client, user, method, path, extra, status):
    headers = {**user.headers, **extra.get("headers", {})}
    kwargs = {key: value for key, value in extra.items() if key != "headers"}

    response = client.request(method, path, headers=headers, **kwargs)

    assert_failed(response, status)
    for word in FORBIDDEN_IN_ERRORS:
        assert word.lower() not in response.text.lower(), word


# --- database unavailable (PostgreSQL) ----------------------------------------------


@pytest.fixture
def spare_database(settings):
    """A database of its own, that the test may shut."""
    if settings.is_sqlite:
        pytest.skip("shutting the database out is a PostgreSQL test")
    with shuttable_postgres_database(settings, "bl_unavailable") as (url, shut):
        yield url, shut


UNAVAILABLE_REQUESTS = {
    "register": (
        "POST",
        "/v1/auth/register",
        {"json": {"email": "new@bucketmail.com", "password": "secret"}},
        False,
    ),
    "login": (
        "POST",
        "/v1/auth/login",
        {"json": {"email": "user1@bucketmail.com", "password": "secret-password"}},
        False,
    ),
    "list buckets": ("GET", BUCKETS, {}, True),
    "create bucket": ("POST", BUCKETS, {"json": {"name": "Travel"}}, True),
    "logout": ("POST", "/v1/auth/logout", {}, True),
}


@pytest.mark.parametrize(
    "method, path, extra, signed_in", UNAVAILABLE_REQUESTS.values(), ids=UNAVAILABLE_REQUESTS.keys()
)
def test_database_unavailable(make_app, spare_database, method, path, extra, signed_in):
    url, shut = spare_database
    with make_app(database_url=url).test_client() as spare:
        response = spare.post(
            "/v1/auth/register", json={"email": "user1@bucketmail.com", "password": "secret-password"}
        )
        assert response.status_code == 201, response.text
        headers = {"Authorization": f"Bearer {response.json()['auth_token']}"} if signed_in else {}
        shut()

        response = spare.request(method, path, headers=headers, **extra)

    assert_failed(response, 503)
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["access-control-allow-origin"] == "*"
    for word in FORBIDDEN_IN_ERRORS:
        assert word.lower() not in response.text.lower(), word


def test_a_database_that_stops_answering_costs_a_bounded_wait(client, settings, user, db):
    """A lock held elsewhere stalls the token check: the answer is a 503, within seconds."""
    if settings.is_sqlite:
        pytest.skip("a table lock that blocks readers is a PostgreSQL test")
    import psycopg2

    blocker = psycopg2.connect(**settings.postgres_params())
    try:
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            response = client.get(BUCKETS, headers=user.headers)
            waited = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()

    assert_failed(response, 503)
    assert int(response.headers["retry-after"]) > 0
    assert waited < 8
    assert client.get(BUCKETS, headers=user.headers).status_code == 200
