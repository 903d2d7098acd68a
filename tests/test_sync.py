"""`GET /v1/sync`: exact deltas of every write, paging inside one change, tokens that are
tampered with, another user's or too old, and a client that syncs while others write."""

from __future__ import annotations

import importlib.util
import random
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import BUCKETS, assert_failed, create_bucket, create_item, item_url, json_of
from live_server import live_server
from pony.orm import db_session

from bucketlist.models import utcnow

SYNC = "/v1/sync"
EMPTY = {"buckets": [], "items": [], "deleted": {"buckets": [], "items": []}, "more": False}
DUMMY = Path(__file__).resolve().parents[1] / "tools" / "dummy.py"


def sync(client, account, since: str | None = None, **params) -> dict:
    if since is not None:
        params["since"] = since
    return json_of(client.get(SYNC, params=params, headers=account.headers), 200)


def without_status(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "status"}


def changes_of(answer: dict) -> dict:
    """The answer without status and token, to compare with what was expected."""
    return {key: answer[key] for key in ("buckets", "items", "deleted", "more")}


def sync_all(client, account, since: str | None = None, limit: int = 100) -> tuple[list[dict], str]:
    """Every page until `more` is false: (the answers, the last token)."""
    answers = []
    while True:
        answer = sync(client, account, since, limit=limit)
        answers.append(answer)
        since = answer["since"]
        if not answer["more"]:
            return answers, since


class Replica:
    """A client's copy, kept by applying sync answers as the spec says to."""

    def __init__(self) -> None:
        self.buckets: dict[int, dict] = {}
        self.items: dict[int, dict] = {}
        self.since: str | None = None

    def apply(self, answer: dict) -> None:
        for bucket in answer["buckets"]:
            self.buckets[bucket["id"]] = bucket
        for item in answer["items"]:
            self.items[item["id"]] = item
        for bucket_id in answer["deleted"]["buckets"]:
            self.buckets.pop(bucket_id, None)
            # A deleted bucket's items are implied by its id.
            self.items = {k: v for k, v in self.items.items() if v["bucketId"] != bucket_id}
        for item_id in answer["deleted"]["items"]:
            self.items.pop(item_id, None)
        self.since = answer["since"]


def server_state(client, account) -> tuple[dict[int, dict], dict[int, dict]]:
    """What the server holds for the user, from the export."""
    document = json_of(client.get("/v1/account/export", headers=account.headers), 200)
    buckets, items = {}, {}
    for bucket in document["buckets"]:
        bucket_items = bucket.pop("items")
        buckets[bucket["id"]] = bucket
        items.update({item["id"]: item for item in bucket_items})
    return buckets, items


def test_first_sync_lists_everything_and_a_second_nothing(client, user, other_user):
    bucket = without_status(create_bucket(client, user, "Travel"))
    item = create_item(client, user, bucket["id"], "Rome", description="In May")
    create_bucket(client, other_user, "Not yours")

    first = sync(client, user)
    assert first["status"] == "success"
    assert changes_of(first) == {**EMPTY, "buckets": [bucket], "items": [item]}
    again = sync(client, user, first["since"])
    assert changes_of(again) == EMPTY
    # An empty answer keeps the client where it was.
    assert changes_of(sync(client, user, again["since"])) == EMPTY


def test_every_write_is_in_the_next_delta_once_as_it_now_is(client, user):
    travel = create_bucket(client, user, "Travel")["id"]
    cook = create_bucket(client, user, "Cook")["id"]
    rome = create_item(client, user, travel, "Rome")
    paris = create_item(client, user, travel, "Paris")
    pasta = create_item(client, user, cook, "Pasta")
    since = sync(client, user)["since"]

    renamed = json_of(client.put(f"{BUCKETS}/{travel}", json={"name": "Europe"}, headers=user.headers), 200)
    first = json_of(
        client.patch(item_url(travel, rome["id"]), json={"done": True}, headers=user.headers), 200
    )
    second = json_of(
        client.put(item_url(travel, rome["id"]), json={"name": "Roma"}, headers=user.headers), 200
    )
    assert first["item"]["done"] is True
    json_of(client.delete(item_url(travel, paris["id"]), headers=user.headers), 200)
    lisbon = create_item(client, user, travel, "Lisbon")
    json_of(client.delete(item_url(cook, pasta["id"]), headers=user.headers), 200)
    json_of(client.delete(f"{BUCKETS}/{cook}", headers=user.headers), 200)
    garden = without_status(create_bucket(client, user, "Garden"))

    delta = sync(client, user, since)
    assert changes_of(delta) == {
        "buckets": [without_status(renamed), garden],
        "items": [second["item"], lisbon],
        # Pasta was deleted before its bucket: the bucket's id implies it all the same.
        "deleted": {"buckets": [cook], "items": [paris["id"]]},
        "more": False,
    }
    assert changes_of(sync(client, user, delta["since"])) == EMPTY


def test_a_resource_made_and_deleted_between_two_syncs_is_a_deleted_id(client, user):
    since = sync(client, user)["since"]
    bucket = create_bucket(client, user, "Brief")["id"]
    json_of(client.delete(f"{BUCKETS}/{bucket}", headers=user.headers), 200)
    assert changes_of(sync(client, user, since)) == {**EMPTY, "deleted": {"buckets": [bucket], "items": []}}
    # A client starting from nothing is not told about what it never had.
    assert changes_of(sync(client, user)) == EMPTY


def test_limit_pages_through_one_change_of_many_rows(client, settings, user):
    """tools/dummy.py writes every row in one transaction, so one change count: `limit` must
    still cut between them, and the pages together list each row exactly once."""
    spec = importlib.util.spec_from_file_location("dummy_for_sync", DUMMY)
    dummy = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = dummy
    spec.loader.exec_module(dummy)
    code = dummy.main(
        ["--email", "seeded@bucketmail.com", "--password", "123456", "--buckets", "4", "--items", "23"],
        settings=settings,
    )
    assert code == 0
    token = client.post("/v1/auth/login", json={"email": "seeded@bucketmail.com", "password": "123456"})
    seeded = type(user)("seeded@bucketmail.com", "123456", json_of(token, 200)["auth_token"])

    answers, since = sync_all(client, seeded, limit=5)
    assert [len(a["buckets"]) + len(a["items"]) for a in answers] == [5, 5, 5, 5, 5, 2]
    assert [a["more"] for a in answers] == [True] * 5 + [False]
    bucket_ids = [b["id"] for a in answers for b in a["buckets"]]
    item_ids = [i["id"] for a in answers for i in a["items"]]
    assert len(bucket_ids) == len(set(bucket_ids)) == 4
    assert len(item_ids) == len(set(item_ids)) == 23
    buckets, items = server_state(client, seeded)
    assert set(bucket_ids) == set(buckets) and set(item_ids) == set(items)
    assert changes_of(sync(client, seeded, since)) == EMPTY

    # --reset deletes them all and seeds anew: the old buckets become deleted ids, no items.
    code = dummy.main(
        [
            "--email",
            "seeded@bucketmail.com",
            "--password",
            "123456",
            "--buckets",
            "2",
            "--items",
            "3",
            "--reset",
        ],
        settings=settings,
    )
    assert code == 0
    answers, _ = sync_all(client, seeded, since, limit=1000)
    assert sorted(answers[-1]["deleted"]["buckets"]) == sorted(bucket_ids)
    assert answers[-1]["deleted"]["items"] == []
    assert (len(answers[-1]["buckets"]), len(answers[-1]["items"])) == (2, 3)


def test_deleted_ids_count_toward_the_limit(client, user):
    ids = [create_bucket(client, user, f"B{n}")["id"] for n in range(3)]
    since = sync(client, user)["since"]
    for bucket_id in ids:
        json_of(client.delete(f"{BUCKETS}/{bucket_id}", headers=user.headers), 200)
    first = sync(client, user, since, limit=2)
    assert (first["deleted"]["buckets"], first["more"]) == (ids[:2], True)
    second = sync(client, user, first["since"], limit=2)
    assert (second["deleted"]["buckets"], second["more"]) == (ids[2:], False)


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_a_tampered_token_is_refused(client, user, where):
    create_bucket(client, user)
    token = sync(client, user)["since"]
    payload, signature = token.split(".")
    tampered = (
        f"{_flip(payload, 0)}.{signature}" if where == "payload" else f"{payload}.{_flip(signature, 3)}"
    )
    response = client.get(SYNC, params={"since": tampered}, headers=user.headers)
    assert_failed(response, 400, "Invalid sync token")


@pytest.mark.parametrize("since", ["abc.def", "a.b", "MS4yLjIuMS4y.", "x" * 201, "a.b.c", "a b.c"])
def test_a_malformed_token_is_refused(client, user, since):
    assert_failed(client.get(SYNC, params={"since": since}, headers=user.headers), 400)


def test_another_users_token_is_refused(client, user, other_user):
    token = sync(client, other_user)["since"]
    assert_failed(client.get(SYNC, params={"since": token}, headers=user.headers), 400, "Invalid sync token")


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_limit_out_of_range_is_refused(client, user, limit):
    assert_failed(client.get(SYNC, params={"limit": limit}, headers=user.headers), 400)


def test_a_token_older_than_the_kept_deletions_is_gone(client, db, user):
    keep = create_bucket(client, user, "Keep")["id"]
    old = [create_bucket(client, user, f"Old {n}")["id"] for n in range(2)]
    before = sync(client, user)["since"]
    json_of(client.delete(f"{BUCKETS}/{old[0]}", headers=user.headers), 200)
    between = sync(client, user, before)["since"]
    # 31 days pass (the clock is the tombstone's own), then the user deletes something else:
    # that write purges what is older than 30 days.
    with db_session:
        db.execute(
            "UPDATE changes SET changed_at = $moment WHERE kind = 1 AND resource_id = $id",
            {"moment": _stamp(db, utcnow() - timedelta(days=31)), "id": old[0]},
        )
    json_of(client.delete(f"{BUCKETS}/{old[1]}", headers=user.headers), 200)

    gone = client.get(SYNC, params={"since": before}, headers=user.headers)
    assert_failed(gone, 410, "Sync token expired, fetch everything again")
    # A token from after the purged deletion still works, and so does starting again.
    assert changes_of(sync(client, user, between)) == {**EMPTY, "deleted": {"buckets": [old[1]], "items": []}}
    fresh = sync(client, user)
    assert [b["id"] for b in fresh["buckets"]] == [keep]


def _stamp(db, moment):
    return moment.isoformat(" ", "microseconds") if db.provider.dialect == "SQLite" else moment


def test_sync_needs_a_token(client):
    assert_failed(client.get(SYNC), 401, "Provide an authorization header")


# --- a client syncing while others write ---------------------------------------------------

WRITERS = 3
WRITES_EACH = 40


def _writer(server, token: str, seed: int, errors: list) -> None:
    rng = random.Random(seed)
    mine: dict[int, list[int]] = {}
    for n in range(WRITES_EACH):
        choice = rng.random()
        if not mine or choice < 0.15:
            status, body = server.request("POST", "/bucketlists", {"name": f"w{seed}-{n}"}, token)
            if status == 201:
                mine[body["id"]] = []
        else:
            bucket = rng.choice(list(mine))
            if choice < 0.55:
                status, body = server.request(
                    "POST", f"/bucketlists/{bucket}/items", {"name": f"i{n}"}, token
                )
                if status == 201:
                    mine[bucket].append(body["item"]["id"])
            elif choice < 0.7 and mine[bucket]:
                item = rng.choice(mine[bucket])
                status, _ = server.request(
                    "PATCH", f"/bucketlists/{bucket}/items/{item}", {"done": True}, token
                )
            elif choice < 0.8 and mine[bucket]:
                item = mine[bucket].pop(rng.randrange(len(mine[bucket])))
                status, _ = server.request("DELETE", f"/bucketlists/{bucket}/items/{item}", None, token)
            elif choice < 0.9:
                status, _ = server.request("PUT", f"/bucketlists/{bucket}", {"name": f"r{seed}-{n}"}, token)
            else:
                del mine[bucket]
                status, _ = server.request("DELETE", f"/bucketlists/{bucket}", None, token)
        if status >= 300:
            errors.append((status, n))


def test_a_client_syncing_while_others_write_ends_equal(tmp_path, settings, client):
    """Writers on a server of two worker processes; a client syncs in small pages meanwhile.
    After the writers stop, one more sync makes its copy equal to the server's, row for row."""
    database_url = None if settings.is_sqlite else settings.database_url
    with live_server(tmp_path, database_url=database_url, workers=2) as server:
        token = server.register()
        errors: list = []
        writers = [
            threading.Thread(target=_writer, args=(server, token, seed, errors)) for seed in range(WRITERS)
        ]
        replica = Replica()
        syncs = 0
        for writer in writers:
            writer.start()
        while any(writer.is_alive() for writer in writers):
            params = f"?limit=7&since={replica.since}" if replica.since else "?limit=7"
            status, answer = server.request("GET", f"/sync{params}", None, token)
            assert status == 200, answer
            replica.apply(answer)
            syncs += 1
        for writer in writers:
            writer.join()
        assert errors == []
        while True:  # the one final sync, page by page
            status, answer = server.request("GET", f"/sync?limit=7&since={replica.since}", None, token)
            assert status == 200, answer
            replica.apply(answer)
            if not answer["more"]:
                break
        status, document = server.request("GET", "/account/export", None, token)
        assert status == 200
    buckets = {b["id"]: {k: v for k, v in b.items() if k != "items"} for b in document["buckets"]}
    items = {i["id"]: i for b in document["buckets"] for i in b["items"]}
    assert syncs > 1
    assert replica.buckets == buckets
    assert replica.items == items
