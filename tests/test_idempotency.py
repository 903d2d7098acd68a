"""Idempotency-Key on the two create operations: replay, mismatch, in progress, races, expiry."""

from __future__ import annotations

import json
import threading
import time

import pytest
from helpers import BUCKETS, assert_failed, create_bucket, items_url, list_buckets, list_items, race
from pony.orm import db_session

from bucketlist.idempotency import RETENTION_SECONDS, KeyStore, fingerprint

REUSED = "Idempotency-Key reused with a different request"
IN_PROGRESS = "A request with this Idempotency-Key is in progress"
RACERS = 8


@pytest.fixture(params=["bucket", "item"])
def create(request, client, user):
    """(url, body) of a create operation: a bucket, or an item in a bucket of `user`."""
    if request.param == "bucket":
        return BUCKETS, {"name": "Travel the world"}
    bucket = create_bucket(client, user, "Travel")
    return items_url(bucket["id"]), {"name": "See the northern lights", "done": False}


def count_created(client, user, url: str) -> int:
    if url == BUCKETS:
        return list_buckets(client, user)["count"]
    return list_items(client, user, int(url.split("/")[3]))["count"]


def keyed(user, key: str | bytes) -> dict:
    return {**user.headers, "Idempotency-Key": key}


def test_a_retry_with_the_same_key_replays_the_first_answer(client, user, create):
    url, body = create
    first = client.post(url, json=body, headers=keyed(user, "retry-1"))
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers

    again = client.post(url, json=body, headers=keyed(user, "retry-1"))

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert count_created(client, user, url) == 1


def test_the_same_json_value_written_differently_is_the_same_request(client, user, create):
    url, body = create
    headers = {**keyed(user, "spacing"), "Content-Type": "application/json"}
    first = client.post(url, content=json.dumps(body), headers=headers)
    reordered = dict(reversed(list(body.items())))
    again = client.post(url, content=json.dumps(reordered, indent=4), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert count_created(client, user, url) == 1


def test_the_same_key_with_another_body_is_refused(client, user, create):
    url, body = create
    client.post(url, json=body, headers=keyed(user, "mine"))

    response = client.post(url, json={**body, "name": "Something else"}, headers=keyed(user, "mine"))

    assert_failed(response, 422, REUSED)
    assert count_created(client, user, url) == 1


def test_the_same_key_on_the_other_create_operation_is_refused(client, user):
    bucket = client.post(BUCKETS, json={"name": "Travel"}, headers=keyed(user, "shared"))
    assert bucket.status_code == 201

    response = client.post(
        items_url(bucket.json()["id"]), json={"name": "Travel"}, headers=keyed(user, "shared")
    )

    assert_failed(response, 422, REUSED)
    assert list_items(client, user, bucket.json()["id"])["count"] == 0


def test_the_same_key_in_another_bucket_is_refused(client, user):
    first, second = (create_bucket(client, user, name)["id"] for name in ("One", "Two"))
    assert client.post(items_url(first), json={"name": "Go"}, headers=keyed(user, "k")).status_code == 201

    response = client.post(items_url(second), json={"name": "Go"}, headers=keyed(user, "k"))

    assert_failed(response, 422, REUSED)
    assert list_items(client, user, second)["count"] == 0


def test_keys_belong_to_their_user(client, user, other_user):
    mine = client.post(BUCKETS, json={"name": "Travel"}, headers=keyed(user, "same-key"))
    theirs = client.post(BUCKETS, json={"name": "Travel"}, headers=keyed(other_user, "same-key"))

    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert list_buckets(client, user)["count"] == list_buckets(client, other_user)["count"] == 1


def test_without_a_key_every_post_creates(client, user, create):
    url, body = create
    for _ in range(2):
        assert client.post(url, json=body, headers=user.headers).status_code == 201
    assert count_created(client, user, url) == 2


def test_a_refusal_is_remembered_too(client, user):
    url = items_url(2147483647)
    first = client.post(url, json={"name": "Go"}, headers=keyed(user, "nowhere"))
    assert_failed(first, 404, "Bucket not found")

    again = client.post(url, json={"name": "Go"}, headers=keyed(user, "nowhere"))

    assert_failed(again, 404, "Bucket not found")
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "key",
    ["", " ", "a" * 256, "caf\u00e9", "tab\there", "del\x7f"],
    ids=["empty", "blank", "256-characters", "not-ascii", "control-character", "delete"],
)
def test_a_malformed_key_is_refused(client, user, create, key):
    url, body = create
    response = client.post(url, json=body, headers=keyed(user, key.encode()))
    body_of_error = assert_failed(response, 400)
    assert "Idempotency-Key" in body_of_error["message"]
    assert count_created(client, user, url) == 0


@pytest.mark.parametrize(
    "key", ["a" * 255, "x", "8e03978e-40d5-43e8-bc93-6894a57f9324", 'with space and "quotes"']
)
def test_any_printable_key_of_1_to_255_characters_works(client, user, key):
    assert client.post(BUCKETS, json={"name": "Go"}, headers=keyed(user, key)).status_code == 201
    again = client.post(BUCKETS, json={"name": "Go"}, headers=keyed(user, key))
    assert again.headers["Idempotent-Replayed"] == "true"


def user_id(client, account) -> int:
    """The account's id, as the token's `sub` names it."""
    import jwt

    return int(jwt.decode(account.token, options={"verify_signature": False})["sub"])


def claim_as_another_worker(db, client, account, key: str, body: dict, lease: int) -> None:
    """What a worker does first with a keyed create of a bucket: the claim, committed."""
    keys = KeyStore(db, user_id(client, account), key)
    assert keys.claim(fingerprint("bucketlist.handlers.buckets.create_bucket", {"body": body}), lease) is None


def test_a_request_in_progress_elsewhere_answers_409(client, db, user):
    claim_as_another_worker(db, client, user, "busy", {"name": "Travel"}, lease=30)

    response = client.post(BUCKETS, json={"name": "Travel"}, headers=keyed(user, "busy"))

    assert_failed(response, 409, IN_PROGRESS)
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert list_buckets(client, user)["count"] == 0


def test_another_body_while_in_progress_is_still_a_reuse(client, db, user):
    claim_as_another_worker(db, client, user, "busy", {"name": "Travel"}, lease=30)
    response = client.post(BUCKETS, json={"name": "Elsewhere"}, headers=keyed(user, "busy"))
    assert_failed(response, 422, REUSED)


def test_a_claim_whose_worker_died_is_taken_over_when_its_lease_ends(client, db, user, make_app):
    app = make_app(idempotency_lease=1)
    claim_as_another_worker(db, client, user, "orphan", {"name": "Travel"}, lease=1)
    with app.test_client() as other:
        assert other.post(BUCKETS, json={"name": "Travel"}, headers=keyed(user, "orphan")).status_code == 409
        time.sleep(1.2)

        taken_over = other.post(BUCKETS, json={"name": "Travel"}, headers=keyed(user, "orphan"))
        assert taken_over.status_code == 201
        assert "Idempotent-Replayed" not in taken_over.headers
        replayed = other.post(BUCKETS, json={"name": "Travel"}, headers=keyed(user, "orphan"))
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == taken_over.json()
    assert list_buckets(client, user)["count"] == 1


def test_duplicates_sent_at_once_to_two_workers_create_exactly_one(two_workers, client, user, create):
    url, body = create

    responses = race(two_workers, [("POST", url, body, keyed(user, "at-once"))] * RACERS)

    originals = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(originals) == 1, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response is originals[0]:
            continue
        # Each duplicate either found the first one running or found its answer.
        if response.status_code == 409:
            assert_failed(response, 409, IN_PROGRESS)
        else:
            assert response.status_code == 201 and response.headers["Idempotent-Replayed"] == "true"
            assert response.json() == originals[0].json()
    retry = client.post(url, json=body, headers=keyed(user, "at-once"))
    assert retry.headers["Idempotent-Replayed"] == "true" and retry.json() == originals[0].json()
    assert count_created(client, user, url) == 1


def test_different_keys_sent_at_once_each_create_one(two_workers, client, user, create):
    url, body = create

    responses = race(two_workers, [("POST", url, body, keyed(user, f"key-{n}")) for n in range(RACERS)])

    assert [response.status_code for response in responses] == [201] * RACERS
    assert count_created(client, user, url) == RACERS


def stored_keys(db) -> list[str]:
    with db_session:
        return sorted(db.select("SELECT idem_key FROM idempotency_keys"))


def age_key(db, key: str, seconds: float) -> None:
    with db_session:
        db.execute(
            "UPDATE idempotency_keys SET created_at = created_at - $seconds WHERE idem_key = $key",
            {"seconds": seconds, "key": key},
        )


def test_keys_are_kept_for_24_hours_and_then_deleted_by_later_requests(client, db, user, make_app):
    for key in ("young", "old"):
        client.post(BUCKETS, json={"name": key}, headers=keyed(user, key))
    age_key(db, "young", RETENTION_SECONDS - 60)
    age_key(db, "old", RETENTION_SECONDS + 60)

    # A process cleans up at its first keyed request, then at most once a minute.
    with make_app().test_client() as fresh:
        assert fresh.post(BUCKETS, json={"name": "new"}, headers=keyed(user, "new")).status_code == 201

    assert stored_keys(db) == ["new", "young"]
    young = client.post(BUCKETS, json={"name": "young"}, headers=keyed(user, "young"))
    assert young.headers["Idempotent-Replayed"] == "true"


def test_an_expired_key_is_a_new_key(client, db, user):
    first = client.post(BUCKETS, json={"name": "Then"}, headers=keyed(user, "reused-later"))
    age_key(db, "reused-later", RETENTION_SECONDS + 60)

    later = client.post(BUCKETS, json={"name": "Now"}, headers=keyed(user, "reused-later"))

    assert later.status_code == 201
    assert "Idempotent-Replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert list_buckets(client, user)["count"] == 2


def wait_for_lock_waiters(connection, count: int) -> None:
    """Until `count` sessions of the service wait for a lock (PostgreSQL)."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'bucketlist'"
                " AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            assert time.monotonic() < deadline, f"{count} requests never waited for the lock"
            time.sleep(0.02)


def test_a_request_that_outlives_its_lease_gives_way_to_the_retry(client, db, user, make_app, settings):
    """The first request is held inside its transaction (a lock on the user's row, which the
    bucket counter needs) past its lease; a retry takes the key over. Exactly one creates."""
    if db.provider.dialect != "PostgreSQL":
        pytest.skip("holds a PostgreSQL row lock; SQLite has no row locks to hold a request with")
    import psycopg2

    apps = [make_app(idempotency_lease=1) for _ in range(2)]
    holder, observer = psycopg2.connect(settings.database_url), psycopg2.connect(settings.database_url)
    observer.autocommit = True  # pg_stat_activity is read once per transaction
    try:
        with holder.cursor() as cursor:
            # NO KEY UPDATE: the foreign key checks (KEY SHARE) pass, the counter's UPDATE waits.
            cursor.execute("SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (user_id(client, user),))
        answers: dict[str, object] = {}

        def send(name: str, app) -> None:
            with app.test_client() as worker:
                answers[name] = worker.post(BUCKETS, json={"name": "Slow"}, headers=keyed(user, "slow"))

        first = threading.Thread(target=send, args=("first", apps[0]))
        first.start()
        wait_for_lock_waiters(observer, 1)
        time.sleep(1.5)  # the first request's lease runs out while it waits
        retry = threading.Thread(target=send, args=("retry", apps[1]))
        retry.start()
        wait_for_lock_waiters(observer, 2)  # the retry took the key over and waits too
        holder.rollback()
        first.join()
        retry.join()
    finally:
        holder.close()
        observer.close()

    assert_failed(answers["first"], 409, IN_PROGRESS)
    assert answers["retry"].status_code == 201
    assert "Idempotent-Replayed" not in answers["retry"].headers
    assert list_buckets(client, user)["count"] == 1
    again = client.post(BUCKETS, json={"name": "Slow"}, headers=keyed(user, "slow"))
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == answers["retry"].json()
