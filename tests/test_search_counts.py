"""Large searched counts, remembered (`search_totals`) and kept exact through every kind of write.

A search's `count` is exact. One of 1,000 matches or more is remembered (one row per user: their
last one), so page 1 of that search asked again counts nothing. On PostgreSQL the database's
triggers add and take away the matches of every write, whoever makes it; on SQLite a write to
the list forgets the remembered count, and the next page 1 counts again. Either way what the API
answers is the exact count, which is what these tests hold it to.
"""

from __future__ import annotations

import io
import itertools
import random
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from helpers import (
    BUCKETS,
    create_bucket,
    create_item,
    insert_buckets,
    insert_rows,
    item_url,
    json_of,
    list_buckets,
    list_items,
    send,
)
from pony.orm import db_session

from bucketlist import listing
from bucketlist.models import utcnow

MATCHES = listing.REMEMBER_FROM + 50
SEARCH = "trip"


def remembered(db) -> list[tuple]:
    """The rows of search_totals, as (list, parent, pattern, done filter, total)."""
    with db_session:
        return [
            tuple(row) for row in db.select("SELECT list, parent_id, pattern, done, total FROM search_totals")
        ]


def user_id(db, account) -> int:
    with db_session:
        return db.select("SELECT id FROM users WHERE email = $email", {"email": account.email})[0]


def test_a_large_searched_count_is_remembered_for_its_search_only(client, db, user, other_user):
    bucket = create_bucket(client, user, "Holidays")["id"]
    insert_rows(db, bucket, 2 * MATCHES, "Trip")  # even ones done: MATCHES of them
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == 2 * MATCHES
    assert remembered(db) == [("items", bucket, "%trip%", -1, 2 * MATCHES)]
    # The same search whatever its case; one row per user: their last large search.
    assert list_items(client, user, bucket, q="TRIP", limit=5)["count"] == 2 * MATCHES
    assert list_items(client, user, bucket, q=SEARCH, done="true", limit=5)["count"] == MATCHES
    assert remembered(db) == [("items", bucket, "%trip%", 1, MATCHES)]
    # A small count is not written down.
    assert list_items(client, user, bucket, q="trip 7", limit=5)["count"] == 1 + 10 + 100
    assert remembered(db) == [("items", bucket, "%trip%", 1, MATCHES)]
    # Another user's search is theirs; their writes touch nothing of this user's.
    theirs = create_bucket(client, other_user, "Trip elsewhere")["id"]
    insert_rows(db, theirs, MATCHES, "Trip")
    assert list_items(client, other_user, theirs, q=SEARCH, limit=5)["count"] == MATCHES
    create_item(client, other_user, theirs, "One more trip")
    kept = [("items", theirs, "%trip%", -1, MATCHES + 1)] if db.provider.dialect == "PostgreSQL" else []
    assert sorted(remembered(db)) == sorted([("items", bucket, "%trip%", 1, MATCHES), *kept])
    assert list_items(client, user, bucket, q=SEARCH, done="true", limit=5)["count"] == MATCHES
    # It goes with the account.
    json_of(
        client.request("DELETE", "/v1/account", json={"password": user.password}, headers=user.headers), 200
    )
    assert [row for row in remembered(db) if row[1] == bucket] == []


def test_a_write_behind_the_apis_back_shows_in_the_next_count(client, db, user):
    """Rows inserted with raw SQL take no change count of the owner; page 1 counts them all the same."""
    bucket = create_bucket(client, user, "Holidays")["id"]
    insert_rows(db, bucket, MATCHES, "Trip")
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES
    insert_rows(db, bucket, 3, "Trip extra")
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES + 3
    first = list_items(client, user, bucket, q=SEARCH, limit=5)
    insert_rows(db, bucket, 2, "Trip late")
    # A cursor page takes the remembered count, kept on PostgreSQL; on SQLite the write forgot
    # it, and the cursor's count holds while the owner's change count has not moved (it lags
    # behind rows written around the API until the owner's next write).
    parts = urlsplit(first["next"])
    next_page = client.get(f"{parts.path}?{parts.query}", headers=user.headers)
    postgres = db.provider.dialect == "PostgreSQL"
    assert json_of(next_page, 200)["count"] == MATCHES + (5 if postgres else 3)


class Model:
    """What the user's buckets and items are, kept beside the database to say what a count must be."""

    def __init__(self) -> None:
        self.buckets: dict[int, str] = {}
        self.items: dict[int, tuple[int, str, bool]] = {}  # id: (bucket, name, done)

    def count(self, search: tuple) -> int:
        list_, parent, done = search
        if list_ == "buckets":
            return sum(SEARCH in name.lower() for name in self.buckets.values())
        return sum(
            bucket == parent and SEARCH in name.lower() and (done is None or is_done == done)
            for bucket, name, is_done in self.items.values()
        )


NAMES = ["Road trip", "Stay home", "TRIPLE jump", "Trip to Rome", "Read a book", "50% trip_x"]


def test_the_remembered_count_follows_every_kind_of_write(client, db, user, other_user):
    """Writes of every kind, through the API and around it, each under each search: after it, the
    search's count is what the rows say. On PostgreSQL the remembered row itself is checked
    first, before any request could count again: the triggers must have kept it."""
    rng = random.Random(20261128)
    postgres = db.provider.dialect == "PostgreSQL"
    owner = user_id(db, user)
    model = Model()
    main = create_bucket(client, user, "Holidays")["id"]
    other = create_bucket(client, user, "Weekends")["id"]
    # Every search below finds 1,000 or more, done or not, with room for what the writes take
    # away (at most 150 matches of each): each is remembered when asked.
    insert_rows(db, main, 2 * (listing.REMEMBER_FROM + 300), "Trip")
    insert_buckets(db, owner, listing.REMEMBER_FROM + 300, "Trip bucket")
    with db_session:
        for row in db.select("SELECT id, name FROM buckets WHERE owner_id = $owner", {"owner": owner}):
            model.buckets[row[0]] = row[1]
        for row in db.select("SELECT id, bucket_id, name, done FROM items"):
            model.items[row[0]] = (row[1], row[2], bool(row[3]))
    searches = [
        ("items", main, None),
        ("items", main, True),
        ("items", main, False),
        ("buckets", owner, None),
    ]

    def ask(search: tuple) -> int:
        list_, parent, done = search
        params = {"q": SEARCH, "limit": 3} | ({} if done is None else {"done": str(done).lower()})
        if list_ == "buckets":
            return list_buckets(client, user, **params)["count"]
        return list_items(client, user, parent, **params)["count"]

    def item_ids(bucket: int | None = None) -> list[int]:
        return sorted(i for i, (b, _, _) in model.items.items() if bucket is None or b == bucket)

    def create() -> None:
        bucket = rng.choice([main, other])
        name, done = rng.choice(NAMES), rng.random() < 0.5
        made = create_item(client, user, bucket, name, done=done)
        model.items[made["id"]] = (bucket, name, done)

    def rename() -> None:
        item = rng.choice(item_ids())
        bucket, _, done = model.items[item]
        name = rng.choice(NAMES)
        json_of(send(client, "PUT", item_url(bucket, item), user, {"name": name}), 200)
        model.items[item] = (bucket, name, done)

    def mark() -> None:
        item = rng.choice(item_ids())
        bucket, name, done = model.items[item]
        json_of(send(client, "PATCH", item_url(bucket, item), user, {"done": not done}), 200)
        model.items[item] = (bucket, name, not done)

    def delete() -> None:
        item = rng.choice(item_ids())
        bucket = model.items.pop(item)[0]
        assert send(client, "DELETE", item_url(bucket, item), user).status_code == 200

    def move_around_the_api() -> None:
        chosen = rng.sample(item_ids(), 3)
        target = rng.choice([main, other])
        with db_session:
            db.execute(
                f"UPDATE items SET bucket_id = $target WHERE id IN ({', '.join(map(str, chosen))})",
                {"target": target},
            )
        for item in chosen:
            model.items[item] = (target, *model.items[item][1:])

    def delete_around_the_api() -> None:
        chosen = rng.sample(item_ids(), 4)
        with db_session:
            db.execute(f"DELETE FROM items WHERE id IN ({', '.join(map(str, chosen))})")
        for item in chosen:
            del model.items[item]

    def rename_around_the_api() -> None:
        chosen = rng.sample(item_ids(main), 5)
        name = rng.choice(NAMES)
        with db_session:
            db.execute(
                f"UPDATE items SET name = $name WHERE id IN ({', '.join(map(str, chosen))})", {"name": name}
            )
        for item in chosen:
            model.items[item] = (model.items[item][0], name, model.items[item][2])

    def bucket_write() -> None:
        kind = rng.choice(["create", "rename", "delete", "give away"])
        if kind == "create":
            name = rng.choice(NAMES)
            model.buckets[create_bucket(client, user, name)["id"]] = name
            return
        spare = sorted(set(model.buckets) - {main, other})
        bucket = rng.choice(spare)
        if kind == "rename":
            name = rng.choice(NAMES)
            json_of(send(client, "PUT", f"{BUCKETS}/{bucket}", user, {"name": name}), 200)
            model.buckets[bucket] = name
        elif kind == "give away":  # to another owner, around the API
            with db_session:
                db.execute(
                    "UPDATE buckets SET owner_id = $to WHERE id = $bucket",
                    {"to": user_id(db, other_user), "bucket": bucket},
                )
            del model.buckets[bucket]
        else:
            assert send(client, "DELETE", f"{BUCKETS}/{bucket}", user).status_code == 200
            del model.buckets[bucket]

    writes = [
        create,
        rename,
        mark,
        delete,
        move_around_the_api,
        delete_around_the_api,
        rename_around_the_api,
        bucket_write,
    ]
    # Every kind of write under every search, three times each with random rows and names.
    for search, write, _ in itertools.product(searches, writes, range(3)):
        assert ask(search) == model.count(search)  # now the remembered one
        write()
        if postgres:
            # Kept by the triggers: checked before any request could count again.
            list_, parent, done = search
            done_filter = -1 if done is None else int(done)
            kept = [(list_, parent, "%trip%", done_filter, model.count(search))]
            assert remembered(db) == kept, write.__name__
        assert ask(search) == model.count(search), write.__name__


def test_a_count_made_beside_a_write_in_progress_is_answered_not_remembered(client, db, user, settings):
    """Page 1 counts while a write of the owner is in progress: its count lacks that write's rows
    (not committed yet), so it is answered but not written down, or the triggers would build on
    it and stay wrong; nor does it wait for the write. PostgreSQL only: SQLite's writers hold the
    whole database."""
    if db.provider.dialect != "PostgreSQL":
        pytest.skip("SQLite writers hold the whole database: a GET cannot count beside one")
    import psycopg2

    bucket = create_bucket(client, user, "Holidays")["id"]
    insert_rows(db, bucket, MATCHES, "Trip")
    writer = psycopg2.connect(settings.database_url)
    try:
        with writer.cursor() as cursor:
            # A write as the API makes one: the user's row first, then the rows; not committed yet.
            cursor.execute("UPDATE users SET change_seq = change_seq + 1 WHERE id = %s", (user_id(db, user),))
            cursor.execute(
                "INSERT INTO items (name, done, bucket_id, created_at, modified_at)"
                " VALUES ('Trip late', false, %s, now(), now())",
                (bucket,),
            )
        assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES
        assert remembered(db) == []
        writer.commit()
    finally:
        writer.close()
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES + 1
    assert remembered(db) == [("items", bucket, "%trip%", -1, MATCHES + 1)]


def test_a_count_made_before_the_owners_last_write_is_not_written_down(client, db, user):
    """The other half of the race above, which no request can be paused inside: a count made at
    a change count of the owner that has moved on since is not written down."""
    bucket = create_bucket(client, user, "Holidays")["id"]
    owner = user_id(db, user)
    remember = listing.remember_sql(db.provider.dialect)
    args = {"owner": owner, "list": "items", "parent": bucket, "pattern": "%trip%", "searched_done": -1}
    with db_session:
        seq = db.select("SELECT change_seq FROM users WHERE id = $owner", {"owner": owner})[0]
        db.execute(remember, {**args, "seq": seq - 1, "total": 5000, "now": utcnow()})
    assert remembered(db) == []
    with db_session:
        db.execute(remember, {**args, "seq": seq, "total": 5000, "now": utcnow()})
    assert remembered(db) == [("items", bucket, "%trip%", -1, 5000)]


def test_a_remembered_search_goes_with_its_bucket(client, db, user):
    bucket = create_bucket(client, user, "Holidays")["id"]
    insert_rows(db, bucket, MATCHES, "Trip")
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES
    with db_session:
        db.execute("DELETE FROM items WHERE bucket_id = $bucket", {"bucket": bucket})
    assert send(client, "DELETE", f"{BUCKETS}/{bucket}", user).status_code == 200
    assert remembered(db) == []


def test_a_remembered_count_is_trusted_for_a_while_only(client, db, user):
    """What the database says it counted is answered while fresh (here a number put there to
    tell), and counted again once older than REMEMBER_FOR: a count gone wrong does not last."""
    bucket = create_bucket(client, user, "Holidays")["id"]
    insert_rows(db, bucket, MATCHES, "Trip")
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES
    with db_session:
        db.execute("UPDATE search_totals SET total = 4321")
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == 4321
    with db_session:
        stale = utcnow() - listing.REMEMBER_FOR - timedelta(seconds=1)
        db.execute("UPDATE search_totals SET counted_at = $stale", {"stale": stale})
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES
    assert remembered(db) == [("items", bucket, "%trip%", -1, MATCHES)]


def test_copy_and_truncate_keep_remembered_counts_right(client, db, user, settings):
    """PostgreSQL's bulk paths: COPY fires the statement triggers like an INSERT; TRUNCATE fires
    none of them, and forgets every remembered count instead."""
    if db.provider.dialect != "PostgreSQL":
        pytest.skip("COPY and TRUNCATE are PostgreSQL's")
    import psycopg2

    bucket = create_bucket(client, user, "Holidays")["id"]
    insert_rows(db, bucket, MATCHES, "Trip")
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES
    rows = "".join(
        f"{name}\tf\t{bucket}\t2026-01-01\t2026-01-01\n" for name in ("Trip a", "Home b", "TRIP c")
    )
    conn = psycopg2.connect(settings.database_url)
    try:
        with conn, conn.cursor() as cursor:
            cursor.copy_expert(
                "COPY items (name, done, bucket_id, created_at, modified_at) FROM STDIN", io.StringIO(rows)
            )
    finally:
        conn.close()
    assert remembered(db) == [("items", bucket, "%trip%", -1, MATCHES + 2)]
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == MATCHES + 2
    with db_session:
        db.execute("TRUNCATE items")
    assert remembered(db) == []
    assert list_items(client, user, bucket, q=SEARCH, limit=5)["count"] == 0
