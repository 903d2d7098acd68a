"""Items: /v1/bucketlists/{bucket_id}/items[/{item_id}]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import (
    BAD_IDS,
    BAD_NAMES,
    BUCKET_NOT_FOUND,
    ID_LOOKALIKES,
    MISSING_ID,
    NOTHING_TO_CHANGE,
    UPDATE_METHODS,
    assert_absolute_url,
    assert_failed,
    assert_refused_id,
    create_bucket,
    create_item,
    error_fields,
    get_item,
    item_url,
    items_url,
    list_items,
    parse_timestamp,
    query_of,
    send,
    send_json,
)
from pony.orm import db_session

ITEM_NOT_FOUND = {"status": "failed", "message": "Item not found"}


@pytest.fixture
def bucket_id(client, user) -> int:
    return create_bucket(client, user)["id"]


# --- create ---------------------------------------------------------------------------


def test_create_item_with_defaults(client, user, bucket_id):
    response = client.post(
        items_url(bucket_id), json={"name": "See the northern lights"}, headers=user.headers
    )

    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "item"}
    assert body["status"] == "success"
    item = body["item"]
    assert set(item) == {"id", "name", "description", "done", "bucketId", "createdAt", "modifiedAt"}
    assert isinstance(item["id"], int) and item["id"] >= 1
    assert item["name"] == "See the northern lights"
    assert item["description"] is None
    assert item["done"] is False
    assert item["bucketId"] == bucket_id
    created = parse_timestamp(item["createdAt"])
    assert parse_timestamp(item["modifiedAt"]) == created
    # Stored as UTC, not local time mislabelled as UTC.
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)


def test_create_item_with_every_field(client, user, bucket_id):
    item = create_item(
        client, user, bucket_id, "Swim with whales", description="Tromsø, in February", done=True
    )

    assert item["description"] == "Tromsø, in February"
    assert item["done"] is True
    assert get_item(client, user, bucket_id, item["id"]) == item


def test_create_item_with_null_description(client, user, bucket_id):
    item = create_item(client, user, bucket_id, description=None)

    assert item["description"] is None


def test_create_item_location_points_at_the_new_item(client, user, bucket_id):
    response = client.post(items_url(bucket_id), json={"name": "Climb Kilimanjaro"}, headers=user.headers)

    location = response.headers["location"]
    assert_absolute_url(location, item_url(bucket_id, response.json()["item"]["id"]))
    fetched = client.get(location, headers=user.headers)
    assert fetched.status_code == 200
    assert fetched.json()["item"] == response.json()["item"]


@pytest.mark.parametrize(
    "name, description",
    [
        ("a", ""),
        ("x" * 200, "y" * 2000),
        ("🎉" * 200, "🎊" * 2000),  # lengths count characters, not UTF-8 bytes
        ("東京で寿司 🍣", "富士山に登る 🗻"),
        ("👨\u200d👩\u200d👧 trip", "zero\u200dwidth joiners kept"),
        ("  spaced  ", "  spaced  "),
        ("Line breaks", "first line\nsecond line\r\n\tindented"),
    ],
    ids=["shortest", "longest", "longest-emoji", "cjk-emoji", "zwj", "spaces", "tabs-and-newlines"],
)
def test_text_round_trips_exactly(client, user, bucket_id, name, description):
    item = create_item(client, user, bucket_id, name, description=description)

    assert (item["name"], item["description"]) == (name, description)
    fetched = get_item(client, user, bucket_id, item["id"])
    assert (fetched["name"], fetched["description"]) == (name, description)
    listed = list_items(client, user, bucket_id)["items"][0]
    assert (listed["name"], listed["description"]) == (name, description)


BAD_DESCRIPTIONS = {
    "2001-chars": "x" * 2001,
    "nul": "text\x00",
    "unit-separator": "a\x1fb",
    "delete": "a\x7f",
    "next-line": "a\x85b",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_create_item_refuses_bad_names(client, user, bucket_id, name):
    response = send_json(client, "POST", items_url(bucket_id), user, {"name": name})

    body = assert_failed(response, 400)
    assert "name" in error_fields(body) or "name" in body["message"].lower()
    assert list_items(client, user, bucket_id)["count"] == 0


@pytest.mark.parametrize("description", BAD_DESCRIPTIONS.values(), ids=BAD_DESCRIPTIONS.keys())
def test_create_item_refuses_bad_descriptions(client, user, bucket_id, description):
    response = send_json(
        client, "POST", items_url(bucket_id), user, {"name": "Fine", "description": description}
    )

    body = assert_failed(response, 400)
    assert "description" in error_fields(body) or "description" in body["message"].lower()
    assert list_items(client, user, bucket_id)["count"] == 0


@pytest.mark.parametrize("field", ["name", "description"])
def test_create_item_refuses_text_that_is_not_unicode(client, user, bucket_id, field):
    payload = {"name": "Fine", field: "lone \ud800 surrogate"}

    response = send_json(client, "POST", items_url(bucket_id), user, payload)

    assert_failed(response, 400)
    assert list_items(client, user, bucket_id)["count"] == 0


@pytest.mark.parametrize(
    "payload",
    [{}, {"description": "no name"}, {"done": True}],
    ids=["empty", "description-only", "done-only"],
)
def test_create_item_without_name(client, user, bucket_id, payload):
    response = client.post(items_url(bucket_id), json=payload, headers=user.headers)

    body = assert_failed(response, 400, "Missing name attribute")
    assert "name" in error_fields(body)
    assert list_items(client, user, bucket_id)["count"] == 0


READ_ONLY_OR_UNKNOWN = ["id", "createdAt", "modifiedAt", "bucketId", "owner", "bucket", "priority"]


@pytest.mark.parametrize("field", READ_ONLY_OR_UNKNOWN)
def test_create_item_refuses_unknown_or_read_only_fields(client, user, bucket_id, field):
    response = client.post(items_url(bucket_id), json={"name": "Fine", field: 1}, headers=user.headers)

    body = assert_failed(response, 400)
    assert field in error_fields(body)
    assert list_items(client, user, bucket_id)["count"] == 0


WRONG_TYPES = [
    ({"done": "yes"}, "done"),
    ({"done": 1}, "done"),
    ({"done": "true"}, "done"),
    ({"done": None}, "done"),
    ({"name": 5}, "name"),
    ({"name": None}, "name"),
    ({"name": ["a"]}, "name"),
    ({"description": 7}, "description"),
    ({"description": False}, "description"),
    ({"description": {"text": "x"}}, "description"),
]
WRONG_TYPE_IDS = [
    "done-yes",
    "done-1",
    "done-true-string",
    "done-null",
    "name-int",
    "name-null",
    "name-list",
    "description-int",
    "description-bool",
    "description-object",
]


@pytest.mark.parametrize("payload, field", WRONG_TYPES, ids=WRONG_TYPE_IDS)
def test_create_item_refuses_wrong_types(client, user, bucket_id, payload, field):
    response = client.post(items_url(bucket_id), json={"name": "Fine", **payload}, headers=user.headers)

    body = assert_failed(response, 400)
    assert field in error_fields(body)
    assert list_items(client, user, bucket_id)["count"] == 0


def test_create_item_in_missing_bucket(client, user):
    response = client.post(items_url(MISSING_ID), json={"name": "Nowhere"}, headers=user.headers)

    assert_failed(response, 404, "Bucket not found")


def test_create_item_refuses_a_body_that_is_not_json(client, user, bucket_id):
    headers = {**user.headers, "Content-Type": "text/plain"}

    response = client.post(items_url(bucket_id), content=b'{"name": "Fine"}', headers=headers)

    assert_failed(response, 415, "Content-type must be json")
    assert list_items(client, user, bucket_id)["count"] == 0


# --- get ------------------------------------------------------------------------------


def test_get_item(client, user, bucket_id):
    item = create_item(client, user, bucket_id, "Learn Japanese", description="N3 first")

    response = client.get(item_url(bucket_id, item["id"]), headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {"status": "success", "item": item}


def test_get_missing_item(client, user, bucket_id):
    assert_failed(client.get(item_url(bucket_id, MISSING_ID), headers=user.headers), 404, "Item not found")


def test_get_item_of_missing_bucket(client, user, bucket_id):
    item = create_item(client, user, bucket_id)

    response = client.get(item_url(MISSING_ID, item["id"]), headers=user.headers)

    assert_failed(response, 404, "Bucket not found")


# --- update (PUT and PATCH mean the same: only the fields sent change) ----------------


@pytest.mark.parametrize("method", UPDATE_METHODS)
@pytest.mark.parametrize(
    "change",
    [
        {"done": True},
        {"name": "Renamed"},
        {"description": "Now described"},
        {"description": None},
        {"name": "All", "description": "three", "done": True},
        {"name": "東京 🗼"},
    ],
    ids=["done", "name", "description", "description-null", "everything", "unicode-name"],
)
def test_update_item_changes_only_the_fields_sent(client, user, bucket_id, method, change):
    item = create_item(client, user, bucket_id, "Original", description="Original text")

    response = client.request(method, item_url(bucket_id, item["id"]), json=change, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"status", "item"} and body["status"] == "success"
    updated = body["item"]
    unchanged = ("id", "name", "description", "done", "bucketId")
    assert updated == {
        **{key: item[key] for key in unchanged},
        **change,
        "createdAt": item["createdAt"],
        "modifiedAt": updated["modifiedAt"],
    }
    assert parse_timestamp(updated["modifiedAt"]) > parse_timestamp(item["modifiedAt"])
    assert get_item(client, user, bucket_id, item["id"]) == updated


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_update_item_can_undo_done(client, user, bucket_id, method):
    item = create_item(client, user, bucket_id, done=True)

    response = client.request(
        method, item_url(bucket_id, item["id"]), json={"done": False}, headers=user.headers
    )

    assert response.status_code == 200
    assert get_item(client, user, bucket_id, item["id"])["done"] is False


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_update_item_with_nothing_to_change(client, user, bucket_id, method):
    item = create_item(client, user, bucket_id)

    response = client.request(method, item_url(bucket_id, item["id"]), json={}, headers=user.headers)

    assert_failed(response, 400, NOTHING_TO_CHANGE)
    assert get_item(client, user, bucket_id, item["id"]) == item


@pytest.mark.parametrize("method", UPDATE_METHODS)
@pytest.mark.parametrize(
    "payload",
    [{"name": n} for n in BAD_NAMES.values()]
    + [{"description": d} for d in BAD_DESCRIPTIONS.values()]
    + [{"name": "lone \ud800"}],
    ids=[f"name-{k}" for k in BAD_NAMES]
    + [f"description-{k}" for k in BAD_DESCRIPTIONS]
    + ["lone-surrogate"],
)
def test_update_item_refuses_bad_text(client, user, bucket_id, method, payload):
    item = create_item(client, user, bucket_id)

    response = send_json(client, method, item_url(bucket_id, item["id"]), user, payload)

    assert_failed(response, 400)
    assert get_item(client, user, bucket_id, item["id"]) == item


@pytest.mark.parametrize("method", UPDATE_METHODS)
@pytest.mark.parametrize("field", READ_ONLY_OR_UNKNOWN)
def test_update_item_refuses_unknown_or_read_only_fields(client, user, bucket_id, method, field):
    item = create_item(client, user, bucket_id)
    other_bucket = create_bucket(client, user, "Other")["id"]
    value = other_bucket if field in ("bucketId", "bucket") else 1

    response = client.request(
        method, item_url(bucket_id, item["id"]), json={field: value}, headers=user.headers
    )
    with_a_real_change = client.request(
        method, item_url(bucket_id, item["id"]), json={"done": True, field: value}, headers=user.headers
    )

    for refused in (response, with_a_real_change):
        body = assert_failed(refused, 400)
        assert field in error_fields(body)
    assert get_item(client, user, bucket_id, item["id"]) == item
    assert list_items(client, user, other_bucket)["count"] == 0


@pytest.mark.parametrize("method", UPDATE_METHODS)
@pytest.mark.parametrize("payload, field", WRONG_TYPES, ids=WRONG_TYPE_IDS)
def test_update_item_refuses_wrong_types(client, user, bucket_id, method, payload, field):
    item = create_item(client, user, bucket_id, description="kept")

    response = client.request(method, item_url(bucket_id, item["id"]), json=payload, headers=user.headers)

    body = assert_failed(response, 400)
    assert field in error_fields(body)
    assert get_item(client, user, bucket_id, item["id"]) == item


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_update_missing_item(client, user, bucket_id, method):
    response = client.request(
        method, item_url(bucket_id, MISSING_ID), json={"done": True}, headers=user.headers
    )

    assert_failed(response, 404, "Item not found")


# --- delete ---------------------------------------------------------------------------


def test_delete_item(client, user, bucket_id):
    kept = create_item(client, user, bucket_id, "Keep")
    doomed = create_item(client, user, bucket_id, "Delete")

    response = client.delete(item_url(bucket_id, doomed["id"]), headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": f"Successfully deleted the item from bucket with Id {bucket_id}",
    }
    assert_failed(client.get(item_url(bucket_id, doomed["id"]), headers=user.headers), 404, "Item not found")
    assert_failed(
        client.delete(item_url(bucket_id, doomed["id"]), headers=user.headers), 404, "Item not found"
    )
    listing = list_items(client, user, bucket_id)
    assert listing["count"] == 1
    assert listing["items"] == [kept]


def test_delete_missing_item(client, user, bucket_id):
    assert_failed(client.delete(item_url(bucket_id, MISSING_ID), headers=user.headers), 404, "Item not found")


def test_deleting_a_bucket_takes_its_items(client, user, db):
    doomed = create_bucket(client, user, "Delete")["id"]
    kept = create_bucket(client, user, "Keep")["id"]
    doomed_items = [create_item(client, user, doomed, f"item {n}") for n in range(3)]
    kept_item = create_item(client, user, kept, "stays")

    assert client.delete(f"/v1/bucketlists/{doomed}", headers=user.headers).status_code == 200

    for item in doomed_items:
        assert_failed(client.get(item_url(doomed, item["id"]), headers=user.headers), 404)
        # Not reachable through another bucket either.
        assert_failed(client.get(item_url(kept, item["id"]), headers=user.headers), 404, "Item not found")
    with db_session:
        left = db.select("SELECT id FROM items WHERE bucket_id = $doomed", {"doomed": doomed})
    assert list(left) == []
    assert list_items(client, user, kept)["items"] == [kept_item]


# --- an item is reached only through its own bucket ---------------------------------

ITEM_OPERATIONS = ["GET", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("method", ITEM_OPERATIONS)
def test_item_of_another_bucket_is_not_found(client, user, method):
    bucket_a = create_bucket(client, user, "A")["id"]
    bucket_b = create_bucket(client, user, "B")["id"]
    item = create_item(client, user, bucket_a, "Lives in A")

    response = send(client, method, item_url(bucket_b, item["id"]), user)

    assert_failed(response, 404, "Item not found")
    assert response.json() == ITEM_NOT_FOUND
    assert get_item(client, user, bucket_a, item["id"]) == item
    assert list_items(client, user, bucket_b)["count"] == 0


# --- lists ----------------------------------------------------------------------------


def test_list_items_is_empty_at_first(client, user, bucket_id):
    assert list_items(client, user, bucket_id) == {
        "status": "success",
        "count": 0,
        "page": 1,
        "limit": 20,
        "next": None,
        "previous": None,
        "items": [],
    }


def test_list_items_shows_only_that_buckets_items(client, user, bucket_id):
    other_bucket = create_bucket(client, user, "Other")["id"]
    mine = [create_item(client, user, bucket_id, f"here {n}") for n in range(2)]
    create_item(client, user, other_bucket, "elsewhere")

    listing = list_items(client, user, bucket_id)

    assert listing["count"] == 2
    assert listing["items"] == list(reversed(mine))


def test_list_items_pages_by_20_newest_first(client, user, bucket_id):
    created = [create_item(client, user, bucket_id, f"item {n}") for n in range(23)]
    newest_first = [i["id"] for i in reversed(created)]

    first = list_items(client, user, bucket_id)
    second = client.get(first["next"], headers=user.headers).json()

    assert (first["count"], first["page"], first["limit"]) == (23, 1, 20)
    assert [i["id"] for i in first["items"]] == newest_first[:20]
    assert first["previous"] is None
    assert (second["count"], second["page"], second["limit"]) == (23, 2, 20)
    assert [i["id"] for i in second["items"]] == newest_first[20:]
    assert second["next"] is None
    assert query_of(second["previous"])["page"] == ["1"]
    assert first["items"][0] == created[-1]


def test_item_page_links_are_absolute_and_keep_q_and_limit(client, user, bucket_id):
    for n in range(5):
        create_item(client, user, bucket_id, f"Dive {n}")
    create_item(client, user, bucket_id, "Something else")

    page = list_items(client, user, bucket_id, q="DIVE", limit=2, page=2)

    assert page["count"] == 5
    for url, expected_page in ((page["next"], "3"), (page["previous"], "1")):
        assert_absolute_url(url, items_url(bucket_id))
        query = query_of(url)
        assert query.pop("cursor") != [""]  # where to read on from (tests/test_cursors.py)
        assert query == {"page": [expected_page], "limit": ["2"], "q": ["DIVE"]}


def test_walking_next_sees_every_item_exactly_once(client, user, bucket_id, db):
    created = {create_item(client, user, bucket_id, f"item {n}")["id"] for n in range(10)}
    # Half of them share one creation time, so the order must fall back on the id.
    with db_session:
        db.execute("UPDATE items SET created_at = (SELECT MIN(created_at) FROM items) WHERE id % 2 = 0")

    seen: list[int] = []
    url: str | None = f"{items_url(bucket_id)}?limit=3"
    while url:
        body = client.get(url, headers=user.headers).json()
        assert body["count"] == 10
        seen.extend(i["id"] for i in body["items"])
        url = body["next"]

    assert len(seen) == len(set(seen)) == 10
    assert set(seen) == created


def test_item_ties_in_creation_time_are_ordered_by_id(client, user, bucket_id, db):
    ids = [create_item(client, user, bucket_id, f"item {n}")["id"] for n in range(5)]
    with db_session:
        db.execute("UPDATE items SET created_at = (SELECT MIN(created_at) FROM items)")

    walked = [
        i["id"]
        for page in (1, 2, 3)
        for i in list_items(client, user, bucket_id, limit=2, page=page)["items"]
    ]

    # Ids grow with creation, so "newest first" means the highest id first.
    assert walked == sorted(ids, reverse=True)


def test_item_page_past_the_end_is_empty_with_the_true_count(client, user, bucket_id):
    for n in range(3):
        create_item(client, user, bucket_id, f"item {n}")

    page = list_items(client, user, bucket_id, page=3, limit=2)

    assert (page["count"], page["page"], page["items"], page["next"]) == (3, 3, [], None)


@pytest.mark.parametrize(
    "param, value",
    [("page", v) for v in ("0", "-1", "abc", "1.5", "1_0", "١", "", "2147483648")]
    + [("limit", v) for v in ("0", "-1", "101", "abc", "1.5", "1_0", "١", "")],
)
def test_list_items_refuses_bad_page_and_limit(client, user, bucket_id, param, value):
    response = client.get(items_url(bucket_id), params={param: value}, headers=user.headers)

    body = assert_failed(response, 400)
    assert param in error_fields(body) or param in body["message"]


@pytest.mark.parametrize(
    "q, expected",
    [
        ("lights", ["Northern LIGHTS", "lights festival"]),
        ("LiGhTs", ["Northern LIGHTS", "lights festival"]),
        ("", ["Northern LIGHTS", "lights festival", "50% off", "under_score", "Été indien"]),
        ("%", ["50% off"]),
        ("_", ["under_score"]),
        ("été", ["Été indien"]),
        ("ÉTÉ", ["Été indien"]),
        ("nothing", []),
    ],
    ids=[
        "lower",
        "mixed-case",
        "empty",
        "percent",
        "underscore",
        "unicode-lower",
        "unicode-upper",
        "no-match",
    ],
)
def test_search_items_by_name(client, user, bucket_id, q, expected):
    names = ["Northern LIGHTS", "lights festival", "50% off", "under_score", "Été indien"]
    # Near misses that a LIKE wildcard would wrongly match.
    names += ["500 off", "underXscore"] if q in ("%", "_") else []
    for name in names:
        create_item(client, user, bucket_id, name)

    page = list_items(client, user, bucket_id, q=q)

    assert sorted(i["name"] for i in page["items"]) == sorted(expected)
    assert page["count"] == len(expected)


# --- ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ITEM_OPERATIONS)
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_item_ids_that_are_not_positive_int32_are_refused(client, user, bucket_id, method, bad_id):
    item = create_item(client, user, bucket_id)

    response = send(client, method, item_url(bucket_id, bad_id), user)

    assert_refused_id(response, "item_id", bad_id)
    assert get_item(client, user, bucket_id, item["id"]) == item


@pytest.mark.parametrize("method", ITEM_OPERATIONS)
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_bucket_ids_that_are_not_positive_int32_are_refused_on_item_paths(
    client, user, bucket_id, method, bad_id
):
    item = create_item(client, user, bucket_id)

    response = send(client, method, item_url(bad_id, item["id"]), user)

    assert_refused_id(response, "bucket_id", bad_id)
    assert get_item(client, user, bucket_id, item["id"]) == item


@pytest.mark.parametrize("method", ITEM_OPERATIONS)
@pytest.mark.parametrize("spelling", ID_LOOKALIKES.values(), ids=ID_LOOKALIKES.keys())
def test_item_id_lookalikes_never_reach_the_item(client, user, bucket_id, method, spelling):
    item = create_item(client, user, bucket_id)
    spelled = spelling(item["id"])

    response = send(client, method, item_url(bucket_id, spelled), user)

    assert_refused_id(response, "item_id", spelled)
    assert get_item(client, user, bucket_id, item["id"]) == item


# --- object-level authorisation -------------------------------------------------------

ALL_OPERATIONS = [(m, "item") for m in ITEM_OPERATIONS] + [("GET", "items"), ("POST", "items")]


def url_for(target: str, bucket: int, item: int) -> str:
    return item_url(bucket, item) if target == "item" else items_url(bucket)


@pytest.mark.parametrize("method, target", ALL_OPERATIONS, ids=[f"{m}-{t}" for m, t in ALL_OPERATIONS])
def test_someone_elses_bucket_looks_missing_on_item_paths(client, user, other_user, method, target):
    bucket = create_bucket(client, user, "Mine")["id"]
    item = create_item(client, user, bucket, "Mine too", description="private")

    theirs = send(client, method, url_for(target, bucket, item["id"]), other_user)
    missing = send(client, method, url_for(target, MISSING_ID, item["id"]), other_user)

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == BUCKET_NOT_FOUND
    assert get_item(client, user, bucket, item["id"]) == item
    assert list_items(client, user, bucket)["items"] == [item]


@pytest.mark.parametrize("method", ITEM_OPERATIONS)
def test_someone_elses_item_through_your_own_bucket_looks_missing(client, user, other_user, method):
    bucket = create_bucket(client, user, "Mine")["id"]
    item = create_item(client, user, bucket, "Mine too", description="private")
    their_bucket = create_bucket(client, other_user, "Theirs")["id"]

    theirs = send(client, method, item_url(their_bucket, item["id"]), other_user)
    missing = send(client, method, item_url(their_bucket, MISSING_ID), other_user)

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == ITEM_NOT_FOUND
    assert get_item(client, user, bucket, item["id"]) == item
    assert list_items(client, user, bucket)["items"] == [item]
    assert list_items(client, other_user, their_bucket)["count"] == 0


# --- authentication -------------------------------------------------------------------


@pytest.mark.parametrize("method, target", ALL_OPERATIONS, ids=[f"{m}-{t}" for m, t in ALL_OPERATIONS])
def test_item_operations_need_a_token(client, user, bucket_id, method, target):
    item = create_item(client, user, bucket_id)

    payload = {"name": "Changed"} if method in ("POST", "PUT", "PATCH") else None
    response = client.request(method, url_for(target, bucket_id, item["id"]), json=payload)

    assert_failed(response, 401, "Provide an authorization header")
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert list_items(client, user, bucket_id)["items"] == [item]
