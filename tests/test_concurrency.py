"""Writes racing each other: exactly one wins, counts stay true, and nothing answers 5xx."""

from __future__ import annotations

import threading

import pytest
from helpers import BUCKETS, create_bucket, create_item

RACERS = 8


@pytest.fixture(params=[0, 4], ids=["on-the-loop", "4-threads"])
def racing_app(request, make_app):
    """Handlers on each client's event loop (the default), and in a pool of threads."""
    app = make_app(threads=request.param)
    with app.test_client():
        pass  # connexion builds its middleware on first use: once, before the racers start
    return app


def race(app, requests: list[tuple[str, str, dict | None]], headers: dict) -> list[int]:
    """Send (method, path, json) requests at once, each from its own client and thread."""
    barrier = threading.Barrier(len(requests), timeout=30)
    statuses: list[int] = [0] * len(requests)

    def run(index: int, method: str, path: str, json: dict | None) -> None:
        with app.test_client() as client:
            barrier.wait()
            statuses[index] = client.request(method, path, headers=headers, json=json).status_code

    threads = [threading.Thread(target=run, args=(i, *request)) for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_deleting_one_bucket_many_times_at_once(racing_app, client, user):
    keep = create_bucket(client, user, "Keep")["id"]
    doomed = create_bucket(client, user, "Doomed")["id"]

    statuses = race(racing_app, [("DELETE", f"{BUCKETS}/{doomed}", None)] * RACERS, user.headers)

    assert sorted(statuses) == [200] + [404] * (RACERS - 1)
    listed = client.get(BUCKETS, headers=user.headers).json()
    assert listed["count"] == 1
    assert [bucket["id"] for bucket in listed["buckets"]] == [keep]


def test_deleting_one_item_many_times_at_once(racing_app, client, user):
    bucket = create_bucket(client, user, "Travel")["id"]
    create_item(client, user, bucket, "Keep")
    doomed = create_item(client, user, bucket, "Doomed")["id"]

    statuses = race(
        racing_app, [("DELETE", f"{BUCKETS}/{bucket}/items/{doomed}", None)] * RACERS, user.headers
    )

    assert sorted(statuses) == [200] + [404] * (RACERS - 1)
    listed = client.get(f"{BUCKETS}/{bucket}/items", headers=user.headers).json()
    assert listed["count"] == 1
    assert [item["name"] for item in listed["items"]] == ["Keep"]


def test_adding_items_while_the_bucket_is_deleted(racing_app, client, user):
    bucket = create_bucket(client, user, "Travel")["id"]
    statuses = race(
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
