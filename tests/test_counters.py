"""The list counters (users.bucket_count, buckets.item_count) are kept by the database's
triggers (migration 0006_counter_triggers), so a write that bypasses the handlers still
leaves `count` right as the API reports it."""

from __future__ import annotations

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
