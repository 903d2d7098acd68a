"""bucketlist.dispatch: JSON operations are called straight from the request, the rest by Flask.

What the operations answer is checked everywhere else; here, that the direct call gives what
Flask gave where the two could differ (repeated headers, HEAD, 304), and that it is taken.
"""

from __future__ import annotations

import flask
import pytest
from helpers import BUCKETS, create_bucket, create_item, get_bucket, item_url, items_url


@pytest.fixture
def reached_flask(app):
    """The paths of the requests that reached the Flask application during the test."""
    seen: list[str] = []

    def note() -> None:
        seen.append(flask.request.path)

    # Appended directly: Flask refuses new setup functions once it has served a request.
    functions = app.app.before_request_funcs.setdefault(None, [])
    functions.append(note)
    yield seen
    functions.remove(note)


def test_json_operations_are_answered_without_flask(client, user, reached_flask):
    bucket = create_bucket(client, user)
    item = create_item(client, user, bucket["id"])
    answers = [
        client.get(BUCKETS, headers=user.headers),
        client.get(items_url(bucket["id"]), params={"q": "north", "limit": 5}, headers=user.headers),
        client.get(item_url(bucket["id"], item["id"]), headers=user.headers),
        client.patch(item_url(bucket["id"], item["id"]), json={"done": True}, headers=user.headers),
        client.get("/v1/sync", headers=user.headers),
        client.get("/healthz"),
        client.delete(item_url(bucket["id"], item["id"]), headers=user.headers),
        client.get(item_url(bucket["id"], item["id"]), headers=user.headers),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 200, 200, 200, 404]
    assert reached_flask == []


def test_text_and_streams_are_still_answered_by_flask(client, user, reached_flask):
    metrics = client.get("/metrics")
    export = client.get("/v1/account/export", headers=user.headers)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert export.status_code == 200
    assert export.json()["email"] == user.email
    # (Flask sees the probes' paths under the API's base path, where connexion mounts them.)
    assert [path.rsplit("/", 1)[-1] for path in reached_flask] == ["metrics", "export"]


def test_repeated_headers_are_read_as_one_list(client, user):
    """Two `If-None-Match` (or `If-Match`) headers count as one list, as a WSGI server joins them."""
    bucket = create_bucket(client, user)
    item = create_item(client, user, bucket["id"])
    url = item_url(bucket["id"], item["id"])
    tag = client.get(url, headers=user.headers).headers["etag"]
    other = '"0123456789abcdef0123456789abcdef"'

    cached = client.get(
        url, headers=[*user.headers.items(), ("If-None-Match", other), ("If-None-Match", tag)]
    )
    assert cached.status_code == 304
    changed = client.patch(
        url,
        json={"done": True},
        headers=[*user.headers.items(), ("If-Match", other), ("If-Match", tag)],
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["item"]["done"] is True


def test_a_304_carries_its_tag_and_nothing_else(client, user):
    bucket = create_bucket(client, user)
    url = f"{BUCKETS}/{bucket['id']}"
    tag = client.get(url, headers=user.headers).headers["etag"]
    cached = client.get(url, headers={**user.headers, "If-None-Match": tag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == tag
    assert "content-type" not in cached.headers
    assert "content-length" not in cached.headers


def test_head_answers_what_get_does_without_the_body(client, user, make_app):
    bucket = create_bucket(client, user)
    url = f"{BUCKETS}/{bucket['id']}"
    got = client.get(url, headers=user.headers)
    # As served: the tests' response validation (off in production) takes a HEAD's empty
    # body for a document that is not one.
    with make_app(validate_responses=False).test_client() as served:
        head = served.head(url, headers=user.headers)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "etag"):
        assert head.headers[name] == got.headers[name]
    assert got.content.endswith(b"}\n")  # connexion's JSON documents end with a newline


@pytest.mark.parametrize("media_type", ["Application/JSON", "APPLICATION/JSON; charset=utf-8"])
def test_a_json_body_is_validated_whatever_the_case_of_its_media_type(client, user, media_type):
    """Media types are case-insensitive: the body is checked as for `application/json`."""
    headers = {**user.headers, "Content-Type": media_type}
    refused = client.post(BUCKETS, content=b'{"name": 5}', headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["message"] == "name must be a string"
    created = client.post(BUCKETS, content=b'{"name": "Kyoto"}', headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Kyoto"
    register = client.post(
        "/v1/auth/register", content=b'{"email": "not-an-email", "password": "x"}', headers=headers
    )
    assert register.status_code == 400


def test_underscored_header_names_are_read_as_hyphenated(client, user):
    """`If_Match` is `If-Match`, as a WSGI server reads it: a write is not let through unchecked."""
    bucket = create_bucket(client, user)
    url = f"{BUCKETS}/{bucket['id']}"
    tag = client.get(url, headers=user.headers).headers["etag"]
    assert client.get(url, headers={**user.headers, "If_None_Match": tag}).status_code == 304
    refused = client.put(url, json={"name": "Lost"}, headers={**user.headers, "If_Match": '"stale"'})
    assert refused.status_code == 412
    assert get_bucket(client, user, bucket["id"])["name"] == bucket["name"]
    first, again = (
        client.post(BUCKETS, json={"name": "Once"}, headers={**user.headers, "Idempotency_Key": "k-1"})
        for _ in range(2)
    )
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("host", ["a b", ""])
def test_a_location_is_a_uri_whatever_the_host_header(client, user, host):
    created = client.post(BUCKETS, json={"name": "Lima"}, headers={**user.headers, "Host": host})
    assert created.status_code == 201
    # werkzeug's reading of a host it cannot use: none; the path stays absolute.
    assert created.headers["location"] == f"http:///v1/bucketlists/{created.json()['id']}"
