"""`GET /v1/account/export` and `DELETE /v1/account`: your data out, and your data gone."""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
from pathlib import Path

import pytest
from helpers import BUCKETS, assert_failed, create_bucket, create_item, item_url, json_of, list_buckets, race
from live_server import live_server
from pony.orm import db_session

from bucketlist.config import Settings

ACCOUNT = "/v1/account"
EXPORT = "/v1/account/export"
DUMMY = Path(__file__).resolve().parents[1] / "tools" / "dummy.py"
DELETED = {"status": "success", "message": "Account deleted"}


def delete_account(client, account, password: str):
    return client.request("DELETE", ACCOUNT, json={"password": password}, headers=account.headers)


def rows_of(db, user_email: str) -> dict[str, int]:
    """How many rows of each table belong to the user with this email (by its id, if any)."""
    with db_session:
        ids = db.select("SELECT id FROM users WHERE email = $email", {"email": user_email})
        user_id = ids[0] if ids else -1
        return {
            "users": len(ids),
            "buckets": db.select("SELECT COUNT(*) FROM buckets WHERE owner_id = $u", {"u": user_id})[0],
            "changes": db.select("SELECT COUNT(*) FROM changes WHERE user_id = $u", {"u": user_id})[0],
        }


def rate_limit_rows(db) -> int:
    with db_session:
        return db.select("SELECT COUNT(*) FROM rate_limit_hits")[0]


def orphans(db) -> dict[str, int]:
    """Rows whose owner is gone: none may ever be left behind."""
    with db_session:
        return {
            "items": db.select("SELECT COUNT(*) FROM items WHERE bucket_id NOT IN (SELECT id FROM buckets)")[
                0
            ],
            "buckets": db.select("SELECT COUNT(*) FROM buckets WHERE owner_id NOT IN (SELECT id FROM users)")[
                0
            ],
            "changes": db.select("SELECT COUNT(*) FROM changes WHERE user_id NOT IN (SELECT id FROM users)")[
                0
            ],
        }


# --- export -----------------------------------------------------------------------------


def test_export_holds_every_bucket_with_its_items(client, user, other_user):
    travel = create_bucket(client, user, "Travel 🌍")
    empty = create_bucket(client, user, "Empty")
    rome = create_item(client, user, travel["id"], "Rome", description="In May")
    oslo = create_item(client, user, travel["id"], "Oslo", done=True)
    create_bucket(client, other_user, "Not yours")

    response = client.get(EXPORT, headers=user.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    bucket_fields = ("id", "name", "createdAt", "modifiedAt")
    assert response.json() == {
        "status": "success",
        "email": user.email,
        "buckets": [
            {**{k: travel[k] for k in bucket_fields}, "items": [rome, oslo]},
            {**{k: empty[k] for k in bucket_fields}, "items": []},
        ],
    }


def test_export_reads_page_after_page_ties_included(monkeypatch, client, db, user):
    """Reads of 3 rows at a time: 5 buckets, and 8 items made in the same microsecond."""
    monkeypatch.setattr("bucketlist.export.CHUNK_ROWS", 3)
    buckets = [create_bucket(client, user, f"B{n}")["id"] for n in range(5)]
    items = [create_item(client, user, buckets[1], f"I{n}")["id"] for n in range(8)]
    with db_session:
        db.execute("UPDATE items SET created_at = (SELECT MIN(created_at) FROM items)")
    document = json_of(client.get(EXPORT, headers=user.headers), 200)
    assert [b["id"] for b in document["buckets"]] == buckets
    assert [i["id"] for i in document["buckets"][1]["items"]] == items
    assert [len(b["items"]) for b in document["buckets"]] == [0, 8, 0, 0, 0]


def test_export_with_handlers_in_a_pool_of_threads(make_app, client, user):
    """Chunks are then read in the pool, perhaps by another thread than the one that began."""
    bucket = create_bucket(client, user, "Travel")
    items = [create_item(client, user, bucket["id"], f"Item {n}") for n in range(5)]
    with make_app(threads=4).test_client() as threaded:
        document = json_of(threaded.get(EXPORT, headers=user.headers), 200)
    assert [item["id"] for item in document["buckets"][0]["items"]] == [item["id"] for item in items]


def test_export_of_nothing(client, user):
    assert json_of(client.get(EXPORT, headers=user.headers), 200) == {
        "status": "success",
        "email": user.email,
        "buckets": [],
    }


def test_export_needs_a_token(client):
    assert_failed(client.get(EXPORT), 401, "Provide an authorization header")


def test_a_big_export_is_streamed_in_chunks(tmp_path, settings, client):
    """Over a real socket: no Content-Length, chunked, and the document whole and exact."""
    from bucketlist.export import CHUNK_ROWS

    items = CHUNK_ROWS * 2 + 10
    database_url = (
        settings.database_url if not settings.is_sqlite else f"sqlite:///{tmp_path / 'big.sqlite3'}"
    )
    seeded = Settings(database_url=database_url, secret_key=settings.secret_key, bcrypt_rounds=4)
    assert (
        load_dummy().main(["--email", "big@bucketmail.com", "--buckets", "3", "--items", str(items)], seeded)
        == 0
    )
    with live_server(tmp_path, database_url=database_url) as server:
        status, body = server.request(
            "POST", "/auth/login", {"email": "big@bucketmail.com", "password": "123456"}
        )
        assert status == 200
        host, port = server.origin.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request(
            "GET", "/v1/account/export", headers={"Authorization": f"Bearer {body['auth_token']}"}
        )
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Length") is None
        assert response.getheader("Transfer-Encoding") == "chunked"
        document = json.loads(response.read())
        connection.close()
        # The same rows as the lists show, bucket by bucket.
        for bucket in document["buckets"]:
            listed = []
            page = 1
            while True:
                status, answer = server.request(
                    "GET",
                    f"/bucketlists/{bucket['id']}/items?limit=100&page={page}",
                    None,
                    body["auth_token"],
                )
                listed += answer["items"]
                if not answer["next"]:
                    break
                page += 1
            assert sorted(bucket["items"], key=lambda i: i["id"]) == sorted(listed, key=lambda i: i["id"])
    assert sum(len(bucket["items"]) for bucket in document["buckets"]) == items


def load_dummy():
    spec = importlib.util.spec_from_file_location("dummy_for_export", DUMMY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- deletion -----------------------------------------------------------------------------


def test_deleting_the_account_removes_everything_and_refuses_its_tokens(client, db, auth, user, other_user):
    bucket = create_bucket(client, user, "Travel")["id"]
    create_item(client, user, bucket, "Rome")
    second_token = json_of(auth.login(user.email, user.password), 200)["auth_token"]
    kept = create_bucket(client, other_user, "Theirs")["id"]
    counted_before = rate_limit_rows(db)
    wrong_reset = {"oldPassword": "not-it", "newPassword": "whatever", "passwordConfirmation": "whatever"}
    assert client.post("/v1/auth/reset/password", json=wrong_reset, headers=user.headers).status_code == 401
    assert rate_limit_rows(db) == counted_before + 1  # the user's failed reset is counted

    response = delete_account(client, user, user.password)
    assert json_of(response, 200) == DELETED
    assert rate_limit_rows(db) == counted_before  # and gone with the account

    for token in (user.token, second_token):
        refused = client.get(BUCKETS, headers={"Authorization": f"Bearer {token}"})
        assert_failed(refused, 401, "Invalid token. Please sign in again")
    assert_failed(auth.login(user.email, user.password), 401, "User does not exist or password is incorrect")
    assert rows_of(db, user.email) == {"users": 0, "buckets": 0, "changes": 0}
    assert orphans(db) == {"items": 0, "buckets": 0, "changes": 0}
    assert [b["id"] for b in list_buckets(client, other_user)["buckets"]] == [kept]
    # The email is free again.
    assert auth.register(user.email).token


def test_a_wrong_password_deletes_nothing(client, db, user):
    create_bucket(client, user, "Travel")
    assert_failed(delete_account(client, user, "not my password"), 401, "Incorrect password")
    assert rows_of(db, user.email) == {"users": 1, "buckets": 1, "changes": 1}
    assert list_buckets(client, user)["count"] == 1


@pytest.mark.parametrize("body", [{}, {"password": ""}, {"password": 1}, {"password": "x", "also": 1}])
def test_a_deletion_without_a_password_is_refused(client, user, body):
    response = client.request("DELETE", ACCOUNT, json=body, headers=user.headers)
    assert_failed(response, 400)
    assert list_buckets(client, user)["count"] == 0  # still there, token still good


def test_deleting_needs_a_token(client):
    assert_failed(client.request("DELETE", ACCOUNT, json={"password": "x"}), 401)


RACERS = 12


def test_deleting_the_account_while_it_writes_leaves_no_orphans(racing_app, client, db, user):
    bucket = create_bucket(client, user, "Travel")["id"]
    item = create_item(client, user, bucket, "Rome")["id"]
    requests = [
        ("POST", BUCKETS, {"name": "racing"}),
        ("POST", f"{BUCKETS}/{bucket}/items", {"name": "racing"}),
        ("PATCH", item_url(bucket, item), {"done": True}),
    ] * (RACERS // 3)
    requests.insert(RACERS // 2, ("DELETE", ACCOUNT, {"password": user.password}))
    responses = race([racing_app], [(*request, user.headers) for request in requests])
    outcomes = [
        (method, path, response.status_code, response.json())
        for (method, path, _body), response in zip(requests, responses, strict=True)
    ]

    deletion = [o for o in outcomes if o[1] == ACCOUNT]
    assert [(status, body) for _, _, status, body in deletion] == [(200, DELETED)]
    for method, path, status, body in outcomes:
        if path != ACCOUNT and status >= 300:
            # Too late: the account was gone when its turn came.
            assert (status, body["message"]) == (401, "Invalid token. Please sign in again"), (method, path)
    assert rows_of(db, user.email) == {"users": 0, "buckets": 0, "changes": 0}
    assert orphans(db) == {"items": 0, "buckets": 0, "changes": 0}
