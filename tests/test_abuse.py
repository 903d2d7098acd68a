"""Abuse resistance of request bodies: bounded cost whatever the shape, capped error lists,
duplicate keys refused.

The shapes are those `tools/bench/abuse.py` measures: each close to the 1 MiB body limit,
built to be slow to parse or validate (a hundred thousand unknown keys on every operation with
a body, nesting 500,000 deep, long arrays, long strings, huge numbers, lone surrogates,
duplicate keys). Each must answer 400 with at most 20 errors listed, the rest counted exactly.
"""

from __future__ import annotations

import time

import pytest
from helpers import BUCKETS, MAX_LISTED_ERRORS, assert_failed, create_bucket, create_item, items_url, snapshot

from tools.bench import abuse as bench

# The contract's budget is about 0.1 s of CPU for parsing and validation. The bounds leave room
# for the test client's own work (it runs in this process) and for a machine shared with other
# jobs: at a load average of 12 on 2 cores the worst shape took 0.12 s of CPU and 0.8 s of wall
# time. Before these checks 96,000 unknown keys took 164 s of CPU (372 s of wall time).
CPU_SECONDS = 0.5
WALL_SECONDS = 3.0


SHAPES = {shape.name: shape for shape in bench.shapes()}


@pytest.fixture
def bucket(client, user) -> int:
    return create_bucket(client, user)["id"]


@pytest.fixture
def item(client, user, bucket) -> int:
    return create_item(client, user, bucket)["id"]


def send(client, user, bucket: int, item: int, method: str, path: str, raw: bytes):
    headers = {**user.headers, "Content-Type": "application/json"}
    return client.request(method, path.format(b=bucket, i=item), content=raw, headers=headers)


def assert_counted(body: dict, problems: int) -> None:
    """`problems` problems: all listed, or the first 20 and "and N more problems"."""
    errors = body["errors"]
    if problems <= MAX_LISTED_ERRORS:
        assert len(errors) == problems, errors
        assert all(entry["field"] is not None for entry in errors)
    else:
        assert len(errors) == MAX_LISTED_ERRORS + 1
        assert errors[-1] == {"field": None, "message": f"and {problems - MAX_LISTED_ERRORS} more problems"}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_worst_shapes_answer_400_quickly(client, user, bucket, item, shape):
    assert len(shape.body) <= 1024 * 1024

    started, started_cpu = time.perf_counter(), time.process_time()
    response = send(client, user, bucket, item, shape.method, shape.path, shape.body)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu

    body = assert_failed(response, 400)
    if shape.problems is not None:
        assert_counted(body, shape.problems)
    if shape.message is not None:
        assert body["message"] == shape.message
    assert len(response.content) < 8 * 1024  # the answer does not grow with the body
    assert cpu < CPU_SECONDS, f"{shape.name}: {cpu:.3f} s of CPU"
    assert elapsed < WALL_SECONDS, f"{shape.name}: {elapsed:.2f} s"


def test_the_missing_field_is_listed_among_many_unknown_ones(client, user):
    shape = next(s for s in SHAPES.values() if s.name.startswith("create bucket") and "no name" in s.name)

    body = assert_failed(send(client, user, 0, 0, shape.method, shape.path, shape.body), 400)

    assert body["message"] == "Missing name attribute"
    assert {"field": "name", "message": "Missing name attribute"} in body["errors"]
    assert_counted(body, shape.problems)


@pytest.mark.parametrize("unknown", [1, 19, 20, 21, 57])
def test_every_unknown_key_is_one_problem(client, user, unknown):
    document = {"name": "Travel", **{f"extra{n}": n for n in range(unknown)}}

    body = assert_failed(client.post(BUCKETS, json=document, headers=user.headers), 400)

    assert_counted(body, unknown)
    listed = [entry for entry in body["errors"] if entry["field"] is not None]
    assert listed == [
        {"field": f"extra{n}", "message": f"extra{n} is not a field that can be set here"}
        for n in range(min(unknown, MAX_LISTED_ERRORS))
    ]
    assert body["message"] == "extra0 is not a field that can be set here"


def test_unknown_keys_and_wrong_fields_are_counted_together(client, user, bucket):
    document = {"name": 5, "description": [], "done": "yes", **{f"x{n}": 0 for n in range(30)}}

    body = assert_failed(client.post(items_url(bucket), json=document, headers=user.headers), 400)

    assert_counted(body, 33)
    fields = {entry["field"] for entry in body["errors"]}
    assert {"name", "description", "done"} <= fields


def test_unknown_query_parameters_are_capped(client, user):
    params = {f"p{n:03d}": "1" for n in range(45)}

    body = assert_failed(client.get(BUCKETS, params=params, headers=user.headers), 400)

    assert_counted(body, 45)
    assert body["errors"][0] == {"field": "p000", "message": "p000 is not a parameter of this operation"}
    assert body["message"].endswith("p019 and 25 more")


def test_a_long_key_is_shown_cut_short(client, user):
    key = "k" * 500_000

    response = client.post(BUCKETS, json={"name": "Travel", key: 1}, headers=user.headers)

    body = assert_failed(response, 400)
    assert len(response.content) < 2000
    assert body["errors"][0]["field"] == "k" * 100 + "…"


def test_a_key_that_is_not_valid_unicode_is_refused(client, user):
    raw = b'{"name": "Travel", "\\ud800": 1}'

    body = assert_failed(send(client, user, 0, 0, "POST", BUCKETS, raw), 400)

    assert body["errors"][0] == {"field": "\\ud800", "message": "\\ud800 is not a field that can be set here"}


# --- duplicate keys -----------------------------------------------------------------------

DUPLICATES = {
    "at the top": (b'{"name": "Travel", "name": "Cook"}', "name"),
    "the same value twice": (b'{"name": "Travel", "name": "Travel"}', "name"),
    "in a nested object": (b'{"name": "Travel", "x": [1, {"a": 1, "b": 2, "a": 3}]}', "a"),
    "spelt with an escape": (b'{"name": "Travel", "n\\u0061me": "Cook"}', "name"),
    "not valid Unicode": (b'{"name": "Travel", "\\udc00": 1, "\\udc00": 2}', "\\udc00"),
}

WRITES = {
    "register": ("POST", "/v1/auth/register", b'{"email": "new@bucketmail.com", "password": "secret", '),
    "login": ("POST", "/v1/auth/login", b'{"email": "user1@bucketmail.com", "password": "secret-password", '),
    "reset password": (
        "POST",
        "/v1/auth/reset/password",
        b'{"oldPassword": "secret-password", "newPassword": "abcdef", "passwordConfirmation": "abcdef", ',
    ),
    "create bucket": ("POST", BUCKETS, b'{"name": "Cook", '),
    "update bucket": ("PUT", BUCKETS + "/{b}", b'{"name": "Cook", '),
    "patch bucket": ("PATCH", BUCKETS + "/{b}", b'{"name": "Cook", '),
    "create item": ("POST", BUCKETS + "/{b}/items", b'{"name": "Cook", '),
    "update item": ("PUT", BUCKETS + "/{b}/items/{i}", b'{"name": "Cook", '),
    "patch item": ("PATCH", BUCKETS + "/{b}/items/{i}", b'{"done": true, '),
}


@pytest.mark.parametrize("raw, name", DUPLICATES.values(), ids=DUPLICATES.keys())
def test_duplicate_key_is_refused(client, user, raw, name):
    body = assert_failed(send(client, user, 0, 0, "POST", BUCKETS, raw), 400, f"duplicate field '{name}'")

    assert body["errors"] == [{"field": name, "message": f"duplicate field '{name}'"}]


@pytest.mark.parametrize("target", WRITES)
def test_duplicate_key_changes_nothing(client, db, user, bucket, item, target):
    method, path, head = WRITES[target]
    raw = head + b'"done": false, "done": true}'
    before = snapshot(client, db, user, bucket)

    response = send(client, user, bucket, item, method, path, raw)

    assert_failed(response, 400, "duplicate field 'done'")
    assert snapshot(client, db, user, bucket) == before
