"""ETag, If-None-Match and If-Match on single buckets and items (RFC 9110 conditional requests)."""

from __future__ import annotations

import pytest
from helpers import BUCKETS, assert_failed, create_bucket, create_item, item_url, race

BUCKET_CHANGED = "The bucket has changed since you read it"
ITEM_CHANGED = "The item has changed since you read it"
RACERS = 6


@pytest.fixture
def bucket(client, user) -> dict:
    return create_bucket(client, user, "Travel")


@pytest.fixture
def item(client, user, bucket) -> dict:
    return create_item(client, user, bucket["id"], "See the northern lights")


@pytest.fixture(params=["bucket", "item"])
def resource(request, client, user, bucket, item) -> tuple[str, str]:
    """(url, the 412 message) of a bucket and of an item."""
    if request.param == "bucket":
        return f"{BUCKETS}/{bucket['id']}", BUCKET_CHANGED
    return item_url(bucket["id"], item["id"]), ITEM_CHANGED


def tag_of(client, user, url: str) -> str:
    response = client.get(url, headers=user.headers)
    assert response.status_code == 200, response.text
    tag = response.headers["ETag"]
    assert tag.startswith('"') and tag.endswith('"') and len(tag) > 2  # strong: no W/
    return tag


def test_a_create_answers_with_the_tag_the_next_get_returns(client, user):
    created = client.post(BUCKETS, json={"name": "Travel"}, headers=user.headers)
    assert created.status_code == 201
    url = f"{BUCKETS}/{created.json()['id']}"
    assert created.headers["ETag"] == tag_of(client, user, url)

    created_item = client.post(f"{url}/items", json={"name": "Go"}, headers=user.headers)
    assert created_item.status_code == 201
    assert created_item.headers["ETag"] == tag_of(client, user, created_item.headers["Location"])


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_an_update_answers_with_the_tag_the_next_get_returns(client, user, resource, method):
    url, _message = resource
    before = tag_of(client, user, url)
    updated = client.request(method, url, json={"name": "Renamed"}, headers=user.headers)
    assert updated.status_code == 200
    assert updated.headers["ETag"] != before
    assert updated.headers["ETag"] == tag_of(client, user, url)


def test_the_tag_changes_with_every_write_even_to_the_same_value(client, user, resource):
    url, _message = resource
    seen = {tag_of(client, user, url)}
    for _ in range(3):
        response = client.put(url, json={"name": "Same name"}, headers=user.headers)
        seen.add(response.headers["ETag"])
    assert len(seen) == 4


def test_an_item_tag_changes_with_done_and_description(client, user, bucket, item):
    url = item_url(bucket["id"], item["id"])
    seen = {tag_of(client, user, url)}
    for change in ({"done": True}, {"description": "In February"}, {"done": False}):
        seen.add(client.patch(url, json=change, headers=user.headers).headers["ETag"])
    assert len(seen) == 4


def test_tags_of_different_resources_differ(client, user, bucket, item):
    other = create_bucket(client, user, "Travel")
    tags = {
        tag_of(client, user, f"{BUCKETS}/{bucket['id']}"),
        tag_of(client, user, f"{BUCKETS}/{other['id']}"),
        tag_of(client, user, item_url(bucket["id"], item["id"])),
    }
    assert len(tags) == 3


@pytest.mark.parametrize(
    "condition",
    ["{tag}", '"other", {tag}', "W/{tag}", "*"],
    ids=["the-tag", "in-a-list", "weak-compare", "star"],
)
def test_if_none_match_with_the_current_tag_answers_304_without_a_body(client, user, resource, condition):
    url, _message = resource
    tag = tag_of(client, user, url)
    response = client.get(url, headers={**user.headers, "If-None-Match": condition.format(tag=tag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == tag


def test_if_none_match_with_an_old_tag_answers_the_resource(client, user, resource):
    url, _message = resource
    old = tag_of(client, user, url)
    client.put(url, json={"name": "Renamed"}, headers=user.headers)
    response = client.get(url, headers={**user.headers, "If-None-Match": old})
    assert response.status_code == 200
    assert response.json()["status"] == "success"
    assert response.headers["ETag"] != old


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    "condition",
    ["{tag}", '"other", {tag}', "*"],
    ids=["the-tag", "in-a-list", "star"],
)
def test_if_match_with_the_current_tag_lets_the_write_through(client, user, resource, method, condition):
    url, _message = resource
    tag = tag_of(client, user, url)
    response = client.request(
        method, url, json={"name": "Renamed"}, headers={**user.headers, "If-Match": condition.format(tag=tag)}
    )
    assert response.status_code == 200, response.text
    assert client.get(url, headers=user.headers).json()[url_kind(url)]["name"] == "Renamed"


def url_kind(url: str) -> str:
    return "item" if "/items/" in url else "bucket"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "condition",
    ["{old}", "W/{tag}", '"not-a-tag"', "garbage", '"a", "b"'],
    ids=["old-tag", "weak-current-tag", "unknown-tag", "not-a-tag-at-all", "list-of-others"],
)
def test_if_match_with_anything_but_the_current_tag_answers_412_and_changes_nothing(
    client, user, resource, method, condition
):
    url, message = resource
    old = tag_of(client, user, url)
    client.put(url, json={"name": "Changed elsewhere"}, headers=user.headers)
    tag = tag_of(client, user, url)
    before = client.get(url, headers=user.headers).json()

    response = client.request(
        method,
        url,
        json=None if method == "DELETE" else {"name": "Mine"},
        headers={**user.headers, "If-Match": condition.format(old=old, tag=tag)},
    )

    assert_failed(response, 412, message)
    assert client.get(url, headers=user.headers).json() == before
    assert tag_of(client, user, url) == tag


def test_delete_with_the_current_tag_deletes(client, user, resource):
    url, _message = resource
    response = client.delete(url, headers={**user.headers, "If-Match": tag_of(client, user, url)})
    assert response.status_code == 200
    assert client.get(url, headers=user.headers).status_code == 404


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_if_match_star_on_a_missing_resource_is_404(client, user, bucket, method):
    for url, message in (
        (f"{BUCKETS}/2147483647", "Bucket not found"),
        (item_url(bucket["id"], 2147483647), "Item not found"),
    ):
        response = client.request(
            method,
            url,
            json=None if method == "DELETE" else {"name": "x"},
            headers={**user.headers, "If-Match": "*"},
        )
        assert_failed(response, 404, message)


def test_someone_elses_resource_is_404_whatever_the_tag(client, user, other_user, resource):
    url, _message = resource
    tag = tag_of(client, user, url)
    for headers in ({"If-Match": tag}, {"If-None-Match": tag}):
        response = client.put(url, json={"name": "x"}, headers={**other_user.headers, **headers})
        assert response.status_code == 404


def test_buckets_and_items_tag_their_lists_no_more_than_before(client, user, bucket):
    # Lists are not single resources: no tag, no 304.
    response = client.get(BUCKETS, headers={**user.headers, "If-None-Match": "*"})
    assert response.status_code == 200
    assert "ETag" not in response.headers


def race_writes(apps, requests: list[tuple[str, str, dict | None, dict]]) -> list[int]:
    return [response.status_code for response in race(apps, requests)]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_of_writers_holding_the_same_tag_exactly_one_wins(two_workers, client, user, resource, method):
    url, _message = resource
    tag = tag_of(client, user, url)
    headers = {**user.headers, "If-Match": tag}

    statuses = race_writes(
        two_workers, [(method, url, {"name": f"Writer {n}"}, headers) for n in range(RACERS)]
    )

    assert sorted(statuses) == [200] + [412] * (RACERS - 1)
    assert client.get(url, headers=user.headers).json()[url_kind(url)]["name"].startswith("Writer ")


def test_of_a_write_and_a_delete_holding_the_same_tag_exactly_one_wins(two_workers, client, user, resource):
    url, _message = resource
    headers = {**user.headers, "If-Match": tag_of(client, user, url)}
    requests = [
        ("PUT", url, {"name": "Renamed"}, headers) if n % 2 else ("DELETE", url, None, headers)
        for n in range(RACERS)
    ]

    statuses = race_writes(two_workers, requests)

    assert statuses.count(200) == 1, statuses
    winner = requests[statuses.index(200)][0]
    # After a delete the others find nothing; after a rename their tag is stale.
    loser_status = 404 if winner == "DELETE" else 412
    assert sorted(statuses) == [200] + [loser_status] * (RACERS - 1)
    assert client.get(url, headers=user.headers).status_code == (404 if winner == "DELETE" else 200)


def test_cors_lets_browsers_send_and_read_the_new_headers(client, user, bucket):
    asked = "if-match, if-none-match, idempotency-key, x-request-id, authorization, content-type"
    preflight = client.options(
        f"{BUCKETS}/{bucket['id']}",
        headers={
            "Origin": "https://app.somewhere.example.net",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert preflight.status_code == 204
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert set(asked.split(", ")) <= allowed

    answer = client.get(
        f"{BUCKETS}/{bucket['id']}", headers={**user.headers, "Origin": "https://app.somewhere.example.net"}
    )
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "x-request-id", "retry-after", "idempotent-replayed", "location"} <= exposed
