"""The list counters (users.bucket_count, buckets.item_count, buckets.done_count) are kept by
the database's triggers (migrations 0006_counter_triggers, 0007_done_counter), so a write
that bypasses the handlers still leaves `count` right as the API reports it, done filter
included."""

from __future__ import annotations

from helpers import create_item, list_items
from pony.orm import db_session

STAMP = "2026-01-01 00:00:00.000000"


def counts(client, account, bucket_id: int) -> tuple[int, int]:
    """`count` of the user's buckets and of the bucket's items, as the API answers."""
    buckets = client.get("/v1/bucketlists", headers=account.headers)
    items = client.get(f"/v1/bucketlists/{bucket_id}/items", headers=account.headers)
    assert buckets.status_code == 200 and items.status_code == 200, (buckets.text, items.text)
    return buckets.json()["count"], items.json()["count"]


def new_bucket(client, account, name: str) -> int:
    response = client.post("/v1/bucketlists", json={"name": name}, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def done_counts(client, account, bucket_id: int) -> tuple[int, int]:
    """`count` of the bucket's done items and of the others, as the API answers, checked
    against the rows it lists."""
    found = []
    for done in ("true", "false"):
        page = list_items(client, account, bucket_id, done=done, limit=100)
        assert page["count"] == len(page["items"]), page
        assert all(item["done"] is (done == "true") for item in page["items"])
        found.append(page["count"])
    return found[0], found[1]


def stored_counts(db) -> list[tuple[int, int, int, int]]:
    """Each bucket's (item_count, items, done_count, done items), in id order."""
    with db_session:
        rows = db.select(
            "SELECT item_count, (SELECT COUNT(*) FROM items WHERE bucket_id = buckets.id),"
            " done_count, (SELECT COUNT(*) FROM items WHERE bucket_id = buckets.id AND done)"
            " FROM buckets ORDER BY id"
        )
    return [tuple(row) for row in rows]


def raw_items(db, bucket_id: int, names: list[str]) -> None:
    """One multi-row INSERT, as bulk SQL outside the handlers would write it."""
    values = ", ".join(f"($name{i}, $done, $bucket, $at, $at)" for i in range(len(names)))
    args = {f"name{i}": name for i, name in enumerate(names)}
    with db_session:
        db.execute(
            f"INSERT INTO items (name, done, bucket_id, created_at, modified_at) VALUES {values}",
            {**args, "done": False, "bucket": bucket_id, "at": STAMP},
        )


def test_raw_item_inserts_and_deletes_keep_the_count(client, db, user):
    bucket = new_bucket(client, user, "Travel")
    assert counts(client, user, bucket) == (1, 0)

    raw_items(db, bucket, ["Tromsø", "Kyoto", "Lima", "Oslo"])
    assert counts(client, user, bucket) == (1, 4)

    with db_session:
        db.execute(
            "DELETE FROM items WHERE bucket_id = $bucket AND name IN ('Kyoto', 'Lima')", {"bucket": bucket}
        )
    assert counts(client, user, bucket) == (1, 2)
    # Handlers and raw SQL add to the same counter.
    created = client.post(f"/v1/bucketlists/{bucket}/items", json={"name": "Quito"}, headers=user.headers)
    assert created.status_code == 201, created.text
    assert counts(client, user, bucket) == (1, 3)


def test_an_item_moved_by_sql_counts_in_its_new_bucket(client, db, user):
    first, second = new_bucket(client, user, "One"), new_bucket(client, user, "Two")
    raw_items(db, first, ["a", "b", "c"])
    with db_session:
        db.execute("UPDATE items SET bucket_id = $to WHERE name = 'a'", {"to": second})
        # An update that leaves bucket_id as it is changes no count.
        db.execute(
            "UPDATE items SET bucket_id = $same, done = $done WHERE name = 'b'", {"same": first, "done": True}
        )
    assert counts(client, user, first) == (2, 2)
    assert counts(client, user, second) == (2, 1)


def test_raw_bucket_inserts_and_deletes_keep_the_count(client, db, user, auth):
    other = auth.register()
    kept = new_bucket(client, user, "Kept")
    with db_session:
        db.execute(
            "INSERT INTO buckets (name, owner_id, created_at, modified_at, item_count)"
            " SELECT 'Bulk', id, $at, $at, 0 FROM users",
            {"at": STAMP},
        )
    # One row per user, each counted for its own owner.
    assert counts(client, user, kept) == (2, 0)
    assert client.get("/v1/bucketlists", headers=other.headers).json()["count"] == 1

    raw_items(db, kept, ["x", "y"])
    with db_session:
        # Items first (they reference the bucket without a cascade), then the bucket.
        db.execute("DELETE FROM items WHERE bucket_id IN (SELECT id FROM buckets WHERE name = 'Bulk')")
        db.execute("DELETE FROM buckets WHERE name = 'Bulk'")
    assert counts(client, user, kept) == (1, 2)
    assert client.get("/v1/bucketlists", headers=other.headers).json()["count"] == 0


def test_counters_equal_the_rows_after_api_writes(client, db, user):
    """Each handler write is counted exactly once (no second increment by hand)."""
    buckets = [new_bucket(client, user, f"B{n}") for n in range(3)]
    for n in range(5):
        response = client.post(
            f"/v1/bucketlists/{buckets[0]}/items", json={"name": f"i{n}"}, headers=user.headers
        )
        assert response.status_code == 201, response.text
    item = response.json()["item"]["id"]
    assert (
        client.delete(f"/v1/bucketlists/{buckets[0]}/items/{item}", headers=user.headers).status_code == 200
    )
    assert client.delete(f"/v1/bucketlists/{buckets[2]}", headers=user.headers).status_code == 200
    assert counts(client, user, buckets[0]) == (2, 4)
    with db_session:
        rows = db.select(
            "SELECT item_count, (SELECT COUNT(*) FROM items WHERE bucket_id = buckets.id)"
            " FROM buckets ORDER BY id"
        )
        assert [tuple(row) for row in rows] == [(4, 4), (0, 0)]


def test_done_counts_follow_api_writes(client, db, user):
    """Created done or not, marked done and back, left as it was, deleted: each counts once."""
    bucket = new_bucket(client, user, "Travel")
    url = f"/v1/bucketlists/{bucket}/items"
    made = [
        create_item(client, user, bucket, f"i{n}", done=done)["id"]
        for n, done in enumerate([True, False, True, False, False])
    ]
    assert done_counts(client, user, bucket) == (2, 3)

    def change(item: int, method: str, body: dict) -> None:
        response = client.request(method, f"{url}/{item}", json=body, headers=user.headers)
        assert response.status_code == 200, response.text

    change(made[1], "PATCH", {"done": True})
    change(made[0], "PUT", {"name": "renamed", "done": True})  # done already: nothing to count
    change(made[2], "PATCH", {"description": "no change of done"})
    assert done_counts(client, user, bucket) == (3, 2)
    change(made[0], "PATCH", {"done": False})
    assert done_counts(client, user, bucket) == (2, 3)
    assert client.delete(f"{url}/{made[2]}", headers=user.headers).status_code == 200  # done
    assert client.delete(f"{url}/{made[3]}", headers=user.headers).status_code == 200  # not done
    assert done_counts(client, user, bucket) == (1, 2)
    assert stored_counts(db) == [(3, 3, 1, 1)]


def test_done_counts_follow_raw_sql_including_moves(client, db, user):
    first, second = new_bucket(client, user, "One"), new_bucket(client, user, "Two")
    raw_items(db, first, ["a", "b", "c", "d"])
    with db_session:
        db.execute(
            "INSERT INTO items (name, done, bucket_id, created_at, modified_at)"
            " VALUES ('e', $done, $bucket, $at, $at), ('f', $done, $bucket, $at, $at)",
            {"done": True, "bucket": first, "at": STAMP},
        )
    assert done_counts(client, user, first) == (2, 4)
    with db_session:
        # One statement marks two done, one of them moving too; a done one moves as it is;
        # one moves not done; one is written with the done it had.
        db.execute(
            "UPDATE items SET done = $done, bucket_id = CASE WHEN name = 'b' THEN $to ELSE bucket_id END"
            " WHERE name IN ('a', 'b')",
            {"done": True, "to": second},
        )
        db.execute("UPDATE items SET bucket_id = $to WHERE name IN ('e', 'c')", {"to": second})
        db.execute("UPDATE items SET done = $done WHERE name = 'f'", {"done": True})
    assert done_counts(client, user, first) == (2, 1)  # a, f done; d not
    assert done_counts(client, user, second) == (2, 1)  # b, e done; c not
    with db_session:
        db.execute("DELETE FROM items WHERE name IN ('a', 'c', 'd')")
    assert done_counts(client, user, first) == (1, 0)
    assert done_counts(client, user, second) == (2, 0)
    assert stored_counts(db) == [(1, 1, 1, 1), (2, 2, 2, 2)]
