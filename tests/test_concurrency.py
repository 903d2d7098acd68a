"""Writes racing each other: exactly one wins, counts stay true, and nothing answers 5xx."""

from __future__ import annotations

from helpers import BUCKETS, create_bucket, create_item, race

RACERS = 8


def race_statuses(app, requests: list[tuple[str, str, dict | None]], headers: dict) -> list[int]:
    return [response.status_code for response in race([app], [(*request, headers) for request in requests])]


def test_deleting_one_bucket_many_times_at_once(racing_app, client, user):
    keep = create_bucket(client, user, "Keep")["id"]
    doomed = create_bucket(client, user, "Doomed")["id"]

    statuses = race_statuses(racing_app, [("DELETE", f"{BUCKETS}/{doomed}", None)] * RACERS, user.headers)

    assert sorted(statuses) == [200] + [404] * (RACERS - 1)
    listed = client.get(BUCKETS, headers=user.headers).json()
    assert listed["count"] == 1
    assert [bucket["id"] for bucket in listed["buckets"]] == [keep]


def test_deleting_one_item_many_times_at_once(racing_app, client, user):
    bucket = create_bucket(client, user, "Travel")["id"]
    create_item(client, user, bucket, "Keep")
    doomed = create_item(client, user, bucket, "Doomed")["id"]

    statuses = race_statuses(
        racing_app, [("DELETE", f"{BUCKETS}/{bucket}/items/{doomed}", None)] * RACERS, user.headers
    )

    assert sorted(statuses) == [200] + [404] * (RACERS - 1)
    listed = client.get(f"{BUCKETS}/{bucket}/items", headers=user.headers).json()
    assert listed["count"] == 1
    assert [item["name"] for item in listed["items"]] == ["Keep"]


def test_adding_items_while_the_bucket_is_deleted(racing_app, client, user):
    bucket = create_bucket(client, user, "Travel")["id"]
    statuses = race_statuses(
        racing_app,
        [
            ("DELETE", f"{BUCKETS}/{bucket}", None)
            if n % 2
            else ("POST", f"{BUCKETS}/{bucket}/items", {"name": "i"})
            for n in range(RACERS)
        ],
        user.headers,
    )

    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(200) == 1  # one delete wins; the others find no bucket
    assert client.get(f"{BUCKETS}/{bucket}", headers=user.headers).status_code == 404
    assert client.get(BUCKETS, headers=user.headers).json()["count"] == 0
