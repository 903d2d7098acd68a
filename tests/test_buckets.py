"""Buckets: /v1/bucketlists and /v1/bucketlists/{bucket_id}."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import (
    BAD_IDS,
    BAD_NAMES,
    BUCKET_NOT_FOUND,
    BUCKETS,
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
    get_bucket,
    items_url,
    json_of,
    list_buckets,
    parse_timestamp,
    query_of,
    send,
    send_json,
)
from pony.orm import db_session


def fields_of(result: dict) -> dict:
    """A create or update result as GET shows it: the bucket without `status`."""
    return {key: result[key] for key in ("id", "name", "createdAt", "modifiedAt")}


# --- create ---------------------------------------------------------------------------


def test_create_bucket(client, user):
    response = client.post(BUCKETS, json={"name": "Travel the world"}, headers=user.headers)

    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "id", "name", "createdAt", "modifiedAt"}
    assert body["status"] == "success"
    assert body["name"] == "Travel the world"
    assert isinstance(body["id"], int) and body["id"] >= 1
    created = parse_timestamp(body["createdAt"])
    assert parse_timestamp(body["modifiedAt"]) == created
    # Stored as UTC, not local time mislabelled as UTC.
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)


def test_create_bucket_location_points_at_the_new_bucket(client, user):
    response = client.post(BUCKETS, json={"name": "Learn to sail"}, headers=user.headers)

    location = response.headers["location"]
    assert_absolute_url(location, f"{BUCKETS}/{response.json()['id']}")
    fetched = client.get(location, headers=user.headers)
    assert fetched.status_code == 200
    assert fetched.json()["bucket"]["name"] == "Learn to sail"


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "x" * 200,
        "🎉" * 200,  # 200 characters, 800 bytes of UTF-8
        "旅行 🌏 世界一周",
        "Tromsø, Ålesund & Zürich",
        "👨\u200d👩\u200d👧 family trip",  # joined emoji keep their zero-width joiners
        "  leading and trailing spaces  ",
        "עברית العربية",
    ],
    ids=["one-char", "200-ascii", "200-emoji", "cjk-emoji", "accents", "zwj-emoji", "spaces", "rtl"],
)
def test_names_round_trip_exactly(client, user, name):
    created = create_bucket(client, user, name)

    assert created["name"] == name
    assert get_bucket(client, user, created["id"])["name"] == name
    assert list_buckets(client, user)["buckets"][0]["name"] == name


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_create_bucket_refuses_bad_names(client, user, name):
    response = send_json(client, "POST", BUCKETS, user, {"name": name})

    body = assert_failed(response, 400)
    assert "name" in error_fields(body) or "name" in body["message"].lower()
    assert list_buckets(client, user)["count"] == 0


def test_create_bucket_refuses_text_that_is_not_unicode(client, user):
    response = send_json(client, "POST", BUCKETS, user, {"name": "trip \ud800"})

    assert_failed(response, 400)
    assert list_buckets(client, user)["count"] == 0


@pytest.mark.parametrize("payload", [{}, {"title": "Travel"}], ids=["empty", "other-field"])
def test_create_bucket_without_name(client, user, payload):
    response = client.post(BUCKETS, json=payload, headers=user.headers)

    body = assert_failed(response, 400, "Missing name attribute")
    assert "name" in error_fields(body)
    assert list_buckets(client, user)["count"] == 0


@pytest.mark.parametrize("field", ["id", "createdAt", "modifiedAt", "owner", "items", "colour"])
def test_create_bucket_refuses_unknown_or_read_only_fields(client, user, field):
    response = client.post(BUCKETS, json={"name": "Trip", field: 1}, headers=user.headers)

    body = assert_failed(response, 400)
    assert field in error_fields(body)
    assert list_buckets(client, user)["count"] == 0


@pytest.mark.parametrize(
    "payload",
    [{"name": 5}, {"name": None}, {"name": True}, {"name": ["Trip"]}, {"name": {"text": "Trip"}}],
    ids=["int", "null", "bool", "list", "object"],
)
def test_create_bucket_refuses_wrong_types(client, user, payload):
    response = client.post(BUCKETS, json=payload, headers=user.headers)

    body = assert_failed(response, 400)
    assert "name" in error_fields(body)
    assert list_buckets(client, user)["count"] == 0


@pytest.mark.parametrize(
    "payload", [[], ["name"], "Trip", 5, None], ids=["list", "list-of-str", "str", "int", "null"]
)
def test_create_bucket_refuses_a_body_that_is_not_an_object(client, user, payload):
    response = client.post(BUCKETS, json=payload, headers=user.headers)

    assert_failed(response, 400)
    assert list_buckets(client, user)["count"] == 0


def test_create_bucket_refuses_a_body_that_is_not_json(client, user):
    headers = {**user.headers, "Content-Type": "application/x-www-form-urlencoded"}

    response = client.post(BUCKETS, content=b"name=Trip", headers=headers)

    assert_failed(response, 415, "Content-type must be json")
    assert list_buckets(client, user)["count"] == 0


# --- get ------------------------------------------------------------------------------


def test_get_bucket(client, user):
    created = create_bucket(client, user, "Run a marathon")

    response = client.get(f"{BUCKETS}/{created['id']}", headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {"status": "success", "bucket": fields_of(created)}


def test_get_missing_bucket(client, user):
    response = client.get(f"{BUCKETS}/{MISSING_ID}", headers=user.headers)

    assert_failed(response, 404, "Bucket not found")


# --- update (PUT and PATCH mean the same) ----------------------------------------------


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_update_bucket(client, user, method):
    created = create_bucket(client, user, "Old name")

    response = client.request(
        method, f"{BUCKETS}/{created['id']}", json={"name": "New name"}, headers=user.headers
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "id", "name", "createdAt", "modifiedAt"}
    assert body["status"] == "success"
    assert body["id"] == created["id"]
    assert body["name"] == "New name"
    assert body["createdAt"] == created["createdAt"]
    assert parse_timestamp(body["modifiedAt"]) > parse_timestamp(created["modifiedAt"])
    assert get_bucket(client, user, created["id"]) == fields_of(body)


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_update_bucket_with_nothing_to_change(client, user, method):
    created = create_bucket(client, user)

    response = client.request(method, f"{BUCKETS}/{created['id']}", json={}, headers=user.headers)

    assert_failed(response, 400, NOTHING_TO_CHANGE)
    assert get_bucket(client, user, created["id"])["modifiedAt"] == created["modifiedAt"]


@pytest.mark.parametrize("method", UPDATE_METHODS)
@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_update_bucket_refuses_bad_names(client, user, method, name):
    created = create_bucket(client, user, "Keep me")

    response = send_json(client, method, f"{BUCKETS}/{created['id']}", user, {"name": name})

    assert_failed(response, 400)
    assert get_bucket(client, user, created["id"]) == fields_of(created)


@pytest.mark.parametrize("method", UPDATE_METHODS)
@pytest.mark.parametrize(
    "payload, field",
    [
        ({"id": 99}, "id"),
        ({"name": "New", "id": 99}, "id"),
        ({"createdAt": "2017-08-24T19:56:07.942974+00:00"}, "createdAt"),
        ({"modifiedAt": "2017-08-24T19:56:07.942974+00:00"}, "modifiedAt"),
        ({"name": "New", "owner": 2}, "owner"),
        ({"colour": "blue"}, "colour"),
        ({"name": 5}, "name"),
        ({"name": None}, "name"),
    ],
    ids=["id", "name-and-id", "createdAt", "modifiedAt", "owner", "unknown", "name-int", "name-null"],
)
def test_update_bucket_refuses_bad_fields(client, user, method, payload, field):
    created = create_bucket(client, user, "Keep me")

    response = client.request(method, f"{BUCKETS}/{created['id']}", json=payload, headers=user.headers)

    body = assert_failed(response, 400)
    assert field in error_fields(body)
    assert get_bucket(client, user, created["id"]) == fields_of(created)


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_update_missing_bucket(client, user, method):
    response = client.request(method, f"{BUCKETS}/{MISSING_ID}", json={"name": "New"}, headers=user.headers)

    assert_failed(response, 404, "Bucket not found")


# --- delete ---------------------------------------------------------------------------


def test_delete_bucket(client, user):
    kept = create_bucket(client, user, "Keep")
    doomed = create_bucket(client, user, "Delete")

    response = client.delete(f"{BUCKETS}/{doomed['id']}", headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {"status": "success", "message": "Bucket Deleted successfully"}
    assert_failed(client.get(f"{BUCKETS}/{doomed['id']}", headers=user.headers), 404, "Bucket not found")
    assert_failed(client.delete(f"{BUCKETS}/{doomed['id']}", headers=user.headers), 404, "Bucket not found")
    listing = list_buckets(client, user)
    assert listing["count"] == 1
    assert [b["id"] for b in listing["buckets"]] == [kept["id"]]


def test_delete_bucket_deletes_its_items(client, user, db):
    doomed = create_bucket(client, user, "Delete")
    kept = create_bucket(client, user, "Keep")
    doomed_items = [create_item(client, user, doomed["id"], f"item {n}") for n in range(3)]
    kept_item = create_item(client, user, kept["id"], "stays")

    response = client.delete(f"{BUCKETS}/{doomed['id']}", headers=user.headers)

    assert response.status_code == 200
    for item in doomed_items:
        gone = client.get(f"{BUCKETS}/{doomed['id']}/items/{item['id']}", headers=user.headers)
        assert_failed(gone, 404)
    assert_failed(
        client.get(f"{BUCKETS}/{doomed['id']}/items", headers=user.headers), 404, "Bucket not found"
    )
    # Gone from the database too, not merely unreachable.
    with db_session:
        left = db.select("SELECT id FROM items WHERE bucket_id = $bucket_id", {"bucket_id": doomed["id"]})
    assert list(left) == []
    kept_items = client.get(f"{BUCKETS}/{kept['id']}/items", headers=user.headers).json()
    assert kept_items["count"] == 1
    assert kept_items["items"][0]["id"] == kept_item["id"]
    assert list_buckets(client, user)["count"] == 1


def test_delete_missing_bucket(client, user):
    assert_failed(client.delete(f"{BUCKETS}/{MISSING_ID}", headers=user.headers), 404, "Bucket not found")


# --- lists ----------------------------------------------------------------------------


def test_list_is_empty_at_first(client, user):
    assert list_buckets(client, user) == {
        "status": "success",
        "count": 0,
        "page": 1,
        "limit": 20,
        "next": None,
        "previous": None,
        "buckets": [],
    }


def test_list_pages_by_20_newest_first(client, user):
    created = [create_bucket(client, user, f"bucket {n}") for n in range(25)]
    newest_first = [b["id"] for b in reversed(created)]

    first = list_buckets(client, user)
    second = client.get(first["next"], headers=user.headers).json()

    assert (first["count"], first["page"], first["limit"]) == (25, 1, 20)
    assert [b["id"] for b in first["buckets"]] == newest_first[:20]
    assert first["previous"] is None
    assert (second["count"], second["page"], second["limit"]) == (25, 2, 20)
    assert [b["id"] for b in second["buckets"]] == newest_first[20:]
    assert second["next"] is None
    assert query_of(second["previous"])["page"] == ["1"]
    listed = first["buckets"][0]
    assert listed == fields_of(created[-1])


def test_next_and_previous_are_absolute_urls_that_keep_q_and_limit(client, user):
    for n in range(7):
        create_bucket(client, user, f"Trip {n}")
    create_bucket(client, user, "Something else")

    page = list_buckets(client, user, q="trip", limit=2, page=2)

    assert page["count"] == 7
    for url, expected_page in ((page["next"], "3"), (page["previous"], "1")):
        assert_absolute_url(url, BUCKETS)
        query = query_of(url)
        assert query.pop("cursor") != [""]  # where to read on from (tests/test_cursors.py)
        assert query == {"page": [expected_page], "limit": ["2"], "q": ["trip"]}


def test_walking_next_sees_every_bucket_exactly_once(client, user):
    created = {create_bucket(client, user, f"bucket {n}")["id"] for n in range(11)}

    seen: list[int] = []
    url: str | None = f"{BUCKETS}?limit=3"
    pages = 0
    while url:
        response = client.get(url, headers=user.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 11
        seen.extend(b["id"] for b in body["buckets"])
        url = body["next"]
        pages += 1

    assert pages == 4
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))


def test_ties_in_creation_time_are_ordered_by_id_on_every_page(client, user, db):
    ids = [create_bucket(client, user, f"bucket {n}")["id"] for n in range(7)]
    # Several buckets created in the same instant (a bulk import, a coarse clock).
    with db_session:
        db.execute("UPDATE buckets SET created_at = (SELECT MIN(created_at) FROM buckets)")

    walked = [
        b["id"] for page in (1, 2, 3) for b in list_buckets(client, user, limit=3, page=page)["buckets"]
    ]

    # Ids grow with creation, so "newest first" means the highest id first.
    assert walked == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "stored, shown",
    [
        (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000000+00:00"),
        (datetime(2026, 1, 2, 3, 4, 5, 120000), "2026-01-02T03:04:05.120000+00:00"),
        (datetime(2026, 1, 2, 3, 4, 5, 1), "2026-01-02T03:04:05.000001+00:00"),
    ],
    ids=["whole-second", "trailing-zeros", "one-microsecond"],
)
def test_timestamps_keep_all_six_digits_in_lists_and_reads(client, user, db, stored, shown):
    bucket = create_bucket(client, user, "Travel")["id"]
    item = create_item(client, user, bucket)["id"]
    with db_session:
        for table in ("buckets", "items"):
            db.execute(f"UPDATE {table} SET created_at = $stored, modified_at = $stored", {"stored": stored})

    listed_bucket = list_buckets(client, user)["buckets"][0]
    listed_item = json_of(client.get(items_url(bucket), headers=user.headers), 200)["items"][0]
    read_item = json_of(client.get(f"{items_url(bucket)}/{item}", headers=user.headers), 200)["item"]

    for shape in (listed_bucket, get_bucket(client, user, bucket), listed_item, read_item):
        assert (shape["createdAt"], shape["modifiedAt"]) == (shown, shown)


def test_page_past_the_end_is_empty_with_the_true_count(client, user):
    for n in range(3):
        create_bucket(client, user, f"bucket {n}")

    page = list_buckets(client, user, page=5, limit=2)

    assert page["count"] == 3
    assert page["page"] == 5
    assert page["buckets"] == []
    assert page["next"] is None


def test_default_limit_comes_from_configuration(make_app, client, user):
    for n in range(7):
        create_bucket(client, user, f"bucket {n}")

    with make_app(page_size=5).test_client() as small_pages:
        page = small_pages.get(BUCKETS, headers=user.headers).json()

    assert (page["limit"], len(page["buckets"]), page["count"]) == (5, 5, 7)
    assert query_of(page["next"])["limit"] == ["5"]


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_are_accepted(client, user, limit):
    for n in range(2):
        create_bucket(client, user, f"bucket {n}")

    page = list_buckets(client, user, limit=limit)

    assert page["limit"] == limit
    assert len(page["buckets"]) == min(limit, 2)


@pytest.mark.parametrize(
    "param, value",
    [
        ("page", "0"),
        ("page", "-1"),
        ("page", "abc"),
        ("page", "1.5"),
        ("page", "1_0"),
        ("page", "١"),
        ("page", ""),
        ("page", "2147483648"),
        ("limit", "0"),
        ("limit", "-1"),
        ("limit", "101"),
        ("limit", "abc"),
        ("limit", "1.5"),
        ("limit", "1_0"),
        ("limit", "١"),
        ("limit", ""),
    ],
)
def test_list_refuses_bad_page_and_limit(client, user, param, value):
    create_bucket(client, user)

    response = client.get(BUCKETS, params={param: value}, headers=user.headers)

    body = assert_failed(response, 400)
    assert param in error_fields(body) or param in body["message"]


@pytest.mark.parametrize(
    "q, expected",
    [
        ("trip", ["Road trip", "TRIP to Rome", "Day-trip"]),
        ("TRIP", ["Road trip", "TRIP to Rome", "Day-trip"]),
        (
            "",
            ["Road trip", "TRIP to Rome", "Day-trip", "Learn piano", "100% fun", "snake_case", "back\\slash"],
        ),
        ("%", ["100% fun"]),
        ("0%", ["100% fun"]),
        ("_", ["snake_case"]),
        ("e_c", ["snake_case"]),
        ("\\", ["back\\slash"]),
        ("nothing like it", []),
    ],
    ids=[
        "lower",
        "upper",
        "empty",
        "percent",
        "digit-percent",
        "underscore",
        "underscore-inside",
        "backslash",
        "no-match",
    ],
)
def test_search_by_name(client, user, q, expected):
    names = ["Road trip", "TRIP to Rome", "Day-trip", "Learn piano", "100% fun", "snake_case", "back\\slash"]
    # Near misses that a LIKE wildcard would wrongly match.
    names += ["1000 fun", "snakeXcase"] if q in ("%", "0%", "_", "e_c") else []
    for name in names:
        create_bucket(client, user, name)

    page = list_buckets(client, user, q=q)

    assert sorted(b["name"] for b in page["buckets"]) == sorted(expected)
    assert page["count"] == len(expected)


@pytest.mark.parametrize(
    "stored, q",
    [
        ("Été à Paris", "ÉTÉ"),
        ("Été à Paris", "été"),
        ("ÉTÉ INDIEN", "été"),
        ("Поездка в Москву", "МОСКВ"),
        ("Ωραία ΘΆΛΑΣΣΑ", "θάλασσα"),
        ("東京タワー", "京タ"),
    ],
)
def test_search_ignores_case_beyond_ascii(client, user, stored, q):
    create_bucket(client, user, stored)
    create_bucket(client, user, "Unrelated")

    page = list_buckets(client, user, q=q)

    assert [b["name"] for b in page["buckets"]] == [stored]
    assert page["count"] == 1


def test_search_with_paging_counts_all_matches(client, user):
    for n in range(5):
        create_bucket(client, user, f"Été {n}")
    for n in range(4):
        create_bucket(client, user, f"Winter {n}")

    first = list_buckets(client, user, q="été", limit=2)
    walked = [b["name"] for b in first["buckets"]]
    url = first["next"]
    while url:
        body = client.get(url, headers=user.headers).json()
        assert body["count"] == 5
        walked.extend(b["name"] for b in body["buckets"])
        url = body["next"]

    assert first["count"] == 5
    assert sorted(walked) == [f"Été {n}" for n in range(5)]


@pytest.mark.parametrize(
    "q", ["\x00", "a\x00b", "\x1f", "\x7f", "\x85"], ids=["nul", "nul-inside", "us", "del", "nel"]
)
def test_search_with_control_characters_is_refused(client, user, q):
    create_bucket(client, user)

    response = client.get(BUCKETS, params={"q": q}, headers=user.headers)

    body = assert_failed(response, 400, "q must not contain control characters")
    assert "q" in error_fields(body)


# --- ids ------------------------------------------------------------------------------

BUCKET_OPERATIONS = [
    ("GET", ""),
    ("PUT", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("GET", "/items"),
    ("POST", "/items"),
]


@pytest.mark.parametrize("method, suffix", BUCKET_OPERATIONS, ids=[f"{m}{s}" for m, s in BUCKET_OPERATIONS])
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_ids_that_are_not_positive_int32_are_refused(client, user, method, suffix, bad_id):
    create_bucket(client, user)

    response = send(client, method, f"{BUCKETS}/{bad_id}{suffix}", user)

    assert_refused_id(response, "bucket_id", bad_id)


@pytest.mark.parametrize("method, suffix", BUCKET_OPERATIONS, ids=[f"{m}{s}" for m, s in BUCKET_OPERATIONS])
@pytest.mark.parametrize("spelling", ID_LOOKALIKES.values(), ids=ID_LOOKALIKES.keys())
def test_id_lookalikes_never_reach_the_bucket(client, user, method, suffix, spelling):
    bucket = create_bucket(client, user, "Untouched")
    spelled = spelling(bucket["id"])

    response = send(client, method, f"{BUCKETS}/{spelled}{suffix}", user)

    assert_refused_id(response, "bucket_id", spelled)
    assert get_bucket(client, user, bucket["id"]) == fields_of(bucket)
    items = client.get(f"{BUCKETS}/{bucket['id']}/items", headers=user.headers).json()
    assert items["count"] == 0


# --- object-level authorisation -------------------------------------------------------


@pytest.mark.parametrize("method, suffix", BUCKET_OPERATIONS, ids=[f"{m}{s}" for m, s in BUCKET_OPERATIONS])
def test_someone_elses_bucket_looks_missing(client, user, other_user, method, suffix):
    bucket = create_bucket(client, user, "Mine")
    item = create_item(client, user, bucket["id"], "Mine too")

    theirs = send(client, method, f"{BUCKETS}/{bucket['id']}{suffix}", other_user, {"name": "Stolen"})
    missing = send(client, method, f"{BUCKETS}/{MISSING_ID}{suffix}", other_user, {"name": "Stolen"})

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == BUCKET_NOT_FOUND
    assert get_bucket(client, user, bucket["id"]) == fields_of(bucket)
    assert client.get(f"{BUCKETS}/{bucket['id']}/items", headers=user.headers).json()["items"] == [item]


def test_list_shows_only_your_own_buckets(client, user, other_user):
    mine = {create_bucket(client, user, f"Mine {n}")["id"] for n in range(3)}
    theirs = {create_bucket(client, other_user, f"Theirs {n}")["id"] for n in range(2)}

    my_list = list_buckets(client, user)
    their_list = list_buckets(client, other_user)
    my_search = list_buckets(client, user, q="theirs")

    assert my_list["count"] == 3 and {b["id"] for b in my_list["buckets"]} == mine
    assert their_list["count"] == 2 and {b["id"] for b in their_list["buckets"]} == theirs
    assert my_search["count"] == 0 and my_search["buckets"] == []


# --- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [("GET", ""), ("POST", ""), ("GET", "/1"), ("PUT", "/1"), ("PATCH", "/1"), ("DELETE", "/1")],
)
def test_bucket_operations_need_a_token(client, user, method, path):
    bucket = create_bucket(client, user)
    url = BUCKETS + path.replace("1", str(bucket["id"]))

    payload = {"name": "New"} if method in ("POST", "PUT", "PATCH") else None
    response = client.request(method, url, json=payload)

    assert_failed(response, 401, "Provide an authorization header")
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert list_buckets(client, user)["count"] == 1
    assert get_bucket(client, user, bucket["id"])["name"] == bucket["name"]
