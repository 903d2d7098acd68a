"""Cursors in list links (keyset pages, signed and bound) and the done filter of items lists."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from helpers import (
    BUCKETS,
    assert_failed,
    create_bucket,
    create_item,
    insert_rows,
    item_url,
    items_url,
    json_of,
    query_of,
)
from pony.orm import db_session

from bucketlist import listing

INVALID_CURSOR = "Invalid cursor"


def follow(client, account, url: str) -> dict:
    parts = urlsplit(url)
    return json_of(client.get(f"{parts.path}?{parts.query}", headers=account.headers), 200)


def walk(client, account, first: dict, link: str) -> list[dict]:
    pages = [first]
    while pages[-1][link] is not None:
        pages.append(follow(client, account, pages[-1][link]))
    return pages


def ids(page: dict, key: str = "items") -> list[int]:
    return [row["id"] for row in page[key]]


@pytest.fixture
def bucket_id(client, user) -> int:
    return create_bucket(client, user)["id"]


@pytest.fixture
def seven(client, user, bucket_id) -> list[int]:
    """Seven items, newest first: ids of 'Item 6' .. 'Item 0'; even ones are done."""
    made = [create_item(client, user, bucket_id, f"Item {i}", done=i % 2 == 0)["id"] for i in range(7)]
    return made[::-1]


def first_page(client, account, bucket_id: int, **params) -> dict:
    response = client.get(items_url(bucket_id), params=params, headers=account.headers)
    return json_of(response, 200)


def test_following_next_visits_every_row_once_with_page_numbers(client, user, bucket_id, seven):
    pages = walk(client, user, first_page(client, user, bucket_id, limit=3), "next")
    assert [ids(p) for p in pages] == [seven[0:3], seven[3:6], seven[6:7]]
    assert [p["page"] for p in pages] == [1, 2, 3]
    assert [p["count"] for p in pages] == [7, 7, 7]
    for number, page in enumerate(pages[:-1], start=1):
        query = query_of(page["next"])
        assert (query["page"], query["limit"]) == ([str(number + 1)], ["3"])
        assert len(query["cursor"]) == 1
    assert pages[0]["previous"] is None


def test_previous_from_page_3_gives_page_2_then_page_1_exactly(client, user, bucket_id, seven):
    pages = walk(client, user, first_page(client, user, bucket_id, limit=3), "next")
    back = walk(client, user, pages[2], "previous")
    assert [ids(p) for p in back] == [ids(pages[2]), ids(pages[1]), ids(pages[0])]
    assert [p["page"] for p in back] == [3, 2, 1]
    assert back[-1]["previous"] is None
    assert ids(follow(client, user, back[-1]["next"])) == ids(pages[1])


def test_inserted_rows_are_not_repeated_and_deleted_ones_not_skipped(client, user, bucket_id, seven):
    first = first_page(client, user, bucket_id, limit=3)
    newest = create_item(client, user, bucket_id, "Added after page 1")["id"]
    second = follow(client, user, first["next"])
    assert ids(second) == seven[3:6]
    assert second["count"] == 8
    # The boundary row of the next cursor goes away: the page after it is still all there.
    json_of(client.delete(item_url(bucket_id, seven[5]), headers=user.headers), 200)
    third = follow(client, user, second["next"])
    assert ids(third) == seven[6:7]
    assert third["next"] is None
    # Going back, the row added at the top is on the page before page 1's first row.
    back = walk(client, user, follow(client, user, first["next"]), "previous")
    assert [ids(p) for p in back] == [[seven[3], seven[4], seven[6]], seven[0:3], [newest]]


def test_a_page_emptied_meanwhile_still_links_back(client, user, bucket_id, seven):
    first = first_page(client, user, bucket_id, limit=6)
    json_of(client.delete(item_url(bucket_id, seven[6]), headers=user.headers), 200)
    empty = follow(client, user, first["next"])
    assert (empty["items"], empty["next"], empty["page"], empty["count"]) == ([], None, 2, 6)
    assert ids(follow(client, user, empty["previous"])) == seven[0:6]


def test_page_alone_still_works_and_its_links_carry_cursors(client, user, bucket_id, seven):
    second = first_page(client, user, bucket_id, limit=3, page=2)
    assert (ids(second), second["page"]) == (seven[3:6], 2)
    assert ids(follow(client, user, second["next"])) == seven[6:7]
    assert ids(follow(client, user, second["previous"])) == seven[0:3]
    assert query_of(second["previous"])["page"] == ["1"]


def test_with_a_cursor_the_page_parameter_is_ignored(client, user, bucket_id, seven):
    first = first_page(client, user, bucket_id, limit=3)
    cursor = query_of(first["next"])["cursor"][0]
    page = first_page(client, user, bucket_id, limit=3, page=40, cursor=cursor)
    assert (ids(page), page["page"]) == (seven[3:6], 2)


@pytest.mark.parametrize("done", ["true", "false"])
def test_done_filter_counts_and_links_keep_it(client, user, bucket_id, seven, done):
    wanted = [i for i in seven if (i - seven[-1]) % 2 == (0 if done == "true" else 1)]
    pages = walk(client, user, first_page(client, user, bucket_id, limit=2, done=done), "next")
    assert [i for p in pages for i in ids(p)] == wanted
    assert {p["count"] for p in pages} == {len(wanted)}
    assert all(item["done"] is (done == "true") for p in pages for item in p["items"])
    assert all(query_of(p["next"])["done"] == [done] for p in pages[:-1])
    by_page = first_page(client, user, bucket_id, limit=2, done=done, page=2)
    assert (ids(by_page), by_page["count"]) == (wanted[2:4], len(wanted))
    assert query_of(by_page["previous"])["done"] == [done]


@pytest.mark.parametrize("value", ["1", "0", "True", "FALSE", "yes", ""])
def test_done_must_be_true_or_false(client, user, bucket_id, value):
    response = client.get(items_url(bucket_id), params={"done": value}, headers=user.headers)
    body = assert_failed(response, 400, "done must be true or false")
    assert body["errors"] == [{"field": "done", "message": "done must be true or false"}]


def test_buckets_follow_cursors_too_with_q(client, user):
    made = [create_bucket(client, user, f"{'Trip' if i % 3 else 'Home'} {i}")["id"] for i in range(8)][::-1]
    first = json_of(client.get(BUCKETS, params={"limit": 2, "q": "trip"}, headers=user.headers), 200)
    pages = walk(client, user, first, "next")
    trips = [i for i, n in zip(made, range(7, -1, -1), strict=True) if n % 3]
    assert [b for p in pages for b in ids(p, "buckets")] == trips
    assert {p["count"] for p in pages} == {len(trips)}
    assert all(query_of(p["next"])["q"] == ["trip"] for p in pages[:-1])


@pytest.mark.parametrize("params", [{"q": "item"}, {"done": "true"}], ids=["q", "done"])
def test_a_filtered_count_carried_by_a_cursor_follows_the_writes_made_since(
    client, user, other_user, bucket_id, seven, params
):
    """A filtered count reached by cursor follows the owner's writes: a search's is carried by
    the cursor with the owner's change count it holds for, the done filter's is the bucket's
    counter."""
    first = first_page(client, user, bucket_id, limit=2, **params)
    expected = first["count"]
    assert follow(client, user, first["next"])["count"] == expected
    # Someone else's writes leave it as it is.
    create_bucket(client, other_user, "Item elsewhere")
    assert follow(client, user, first["next"])["count"] == expected
    # The owner's writes, in this list or another, are counted again.
    added = create_item(client, user, bucket_id, "Item 7", done=True)["id"]
    assert follow(client, user, first["next"])["count"] == expected + 1
    create_bucket(client, user, "Unrelated")
    assert follow(client, user, first["next"])["count"] == expected + 1
    client.delete(item_url(bucket_id, added), headers=user.headers)
    client.delete(item_url(bucket_id, seven[-1]), headers=user.headers)  # Item 0: done, matches
    page = follow(client, user, first["next"])
    assert page["count"] == expected - 1
    assert follow(client, user, page["previous"])["count"] == expected - 1


def cursor_of(page: dict, link: str = "next") -> str:
    return query_of(page[link])["cursor"][0]


def tampered(cursor: str) -> list[str]:
    position, _, signature = cursor.partition(".")
    flipped = "A" if position[3] != "A" else "B"
    return [
        position[:3] + flipped + position[4:] + "." + signature,
        position + "." + ("A" if signature[0] != "A" else "B") + signature[1:],
        position + "." + signature[:-1],
        "x" + cursor,
        cursor + "x",
        "!" * 20,
        "a.b",
        "",
    ]


def test_tampered_cursors_are_refused(client, user, bucket_id, seven):
    cursor = cursor_of(first_page(client, user, bucket_id, limit=3))
    for bad in tampered(cursor):
        response = client.get(items_url(bucket_id), params={"limit": 3, "cursor": bad}, headers=user.headers)
        assert_failed(response, 400, INVALID_CURSOR)


def test_a_cursor_of_another_list_query_or_user_is_refused(client, user, other_user, bucket_id, seven):
    cursor = cursor_of(first_page(client, user, bucket_id, limit=3))
    other_bucket = create_bucket(client, user, "Another")["id"]
    create_item(client, user, other_bucket, "Something")
    theirs = create_bucket(client, other_user, "Theirs")["id"]
    refused = [
        (user, items_url(other_bucket), {"limit": 3}),
        (user, BUCKETS, {"limit": 3}),
        (user, items_url(bucket_id), {"limit": 3, "q": "item"}),
        (user, items_url(bucket_id), {"limit": 3, "done": "true"}),
        (user, items_url(bucket_id), {"limit": 4}),
        (other_user, items_url(theirs), {"limit": 3}),
        (other_user, items_url(bucket_id), {"limit": 3}),
    ]
    for account, url, params in refused:
        response = client.get(url, params={**params, "cursor": cursor}, headers=account.headers)
        assert_failed(response, 400, INVALID_CURSOR)


def test_a_cursor_signed_with_another_secret_is_refused(client, user, bucket_id, seven, make_app):
    cursor = cursor_of(first_page(client, user, bucket_id, limit=3))
    other = make_app(secret_key="another-secret-" + "k" * 40)
    with other.test_client() as other_client:
        token = json_of(
            other_client.post("/v1/auth/login", json={"email": user.email, "password": user.password}), 200
        )["auth_token"]
        response = other_client.get(
            items_url(bucket_id),
            params={"limit": 3, "cursor": cursor},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert_failed(response, 400, INVALID_CURSOR)


def test_deep_cursor_page_reads_the_index_without_offset(client, user, bucket_id, db):
    """Thousands of rows, many created in the same microsecond (ties broken by id)."""
    rows = 3000
    insert_rows(db, bucket_id, rows, "Row")
    pages = walk(client, user, first_page(client, user, bucket_id, limit=100), "next")
    seen = [i for p in pages for i in ids(p)]
    assert len(seen) == rows and len(set(seen)) == rows
    assert seen == sorted(seen, reverse=True)  # same second: newest id first
    assert pages[-1]["page"] == 30
    back = walk(client, user, pages[-1], "previous")
    assert [ids(p) for p in back] == [ids(p) for p in reversed(pages)]
    if db.provider.dialect != "PostgreSQL":
        return
    middle = pages[15]["items"][-1]
    sql = listing.keyset_sql("PostgreSQL", listing.ITEMS, "bucket_id = $parent", older=True, inclusive=False)
    at = {"at": middle["createdAt"][:26].replace("T", " "), "at_id": middle["id"], "size": 101}
    # The page, then whether rows lie beyond its edges (the links): index range scans, all.
    queries = [sql] + [
        listing.beyond_sql("PostgreSQL", listing.ITEMS, "bucket_id = $parent", comparison)
        for comparison in (">", "<", ">=", "<=")
    ]
    for query in queries:
        with db_session:
            plan = "\n".join(
                row[0] for row in db.execute(f"EXPLAIN {query}", {"parent": bucket_id, **at}).fetchall()
            )
        assert "Index" in plan and "Sort" not in plan and "Seq Scan" not in plan, f"{query}\n{plan}"


def test_a_small_searched_count_is_made_every_time(client, db, user, bucket_id, seven):
    assert first_page(client, user, bucket_id, q="item 1")["count"] == 1
    insert_rows(db, bucket_id, 1, "Item 1 again")
    assert first_page(client, user, bucket_id, q="item 1")["count"] == 2
