"""tools/dummy.py: demo data, seen through the API it is meant for.

The seeder runs in-process with the test application's settings, so it writes to the
database that application reads (SQLite, and PostgreSQL when DATABASE_URL_TEST is set).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest
from pony.orm import db_session

ROOT = Path(__file__).resolve().parents[1]
DUMMY = ROOT / "tools" / "dummy.py"
BUCKETS = "/v1/bucketlists"
EMAIL, PASSWORD = "example@bucketmail.com", "123456"
SMALL = ["--buckets", "5", "--items", "40"]


@pytest.fixture(scope="module")
def dummy() -> ModuleType:
    """tools/ is not a package: load the script as a module."""
    spec = importlib.util.spec_from_file_location("dummy", DUMMY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def seed(client, settings, dummy, capsys):
    """Run the seeder on the test database (after `client` has emptied it); returns its output."""

    def run(*args: str) -> str:
        code = dummy.main(list(args), settings=settings)
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert captured.err == ""
        return captured.out

    return run


def login(client, email: str = EMAIL, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['auth_token']}"}


def every_page(client, path: str, headers: dict[str, str], key: str) -> tuple[int, list[dict]]:
    """(count, all rows) of a list endpoint, page by page."""
    rows: list[dict] = []
    page = 1
    while True:
        response = client.get(path, params={"page": page, "limit": 100}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body[key]
        if body["next"] is None:
            assert len(rows) == body["count"]
            return body["count"], rows
        page += 1


def snapshot(client, headers: dict[str, str]) -> dict:
    """Every bucket of the user, newest first, with its items, as the API lists them."""
    count, buckets = every_page(client, BUCKETS, headers, "buckets")
    items = {}
    for bucket in buckets:
        _, items[bucket["id"]] = every_page(client, f"{BUCKETS}/{bucket['id']}/items", headers, "items")
    return {"count": count, "buckets": buckets, "items": items}


def names(view: dict) -> list:
    """What a seed decides: names, descriptions and done flags, in list order (not ids or times)."""
    return [
        (bucket["name"], [(i["name"], i["description"], i["done"]) for i in view["items"][bucket["id"]]])
        for bucket in view["buckets"]
    ]


def item_total(view: dict) -> int:
    return sum(len(items) for items in view["items"].values())


def test_default_run_gives_a_user_who_can_log_in_with_100_buckets_and_1000_items(seed, client, db):
    output = seed()

    view = snapshot(client, login(client))
    assert view["count"] == 100
    assert item_total(view) == 1000
    all_items = [item for items in view["items"].values() for item in items]
    assert 0 < sum(item["done"] for item in all_items) < len(all_items)
    assert any(item["description"] is None for item in all_items)
    assert len({bucket["name"] for bucket in view["buckets"]}) > 20  # varied, not "Bucket 1, 2, 3"
    # Every item listed under a bucket says so, and there are no other items in the database.
    for bucket_id, items in view["items"].items():
        assert {item["bucketId"] for item in items} <= {bucket_id}
    with db_session:
        assert db.select("SELECT COUNT(*) FROM items")[0] == 1000
        assert db.select("SELECT COUNT(*) FROM users")[0] == 1
    assert "rows/s" in output and "1,000 items" in output


def test_timestamps_make_newest_first_lists_meaningful(seed, client):
    seed(*SMALL)

    view = snapshot(client, login(client))
    created = [datetime.fromisoformat(bucket["createdAt"]) for bucket in view["buckets"]]
    assert created == sorted(created, reverse=True) and len(set(created)) == len(created)
    for bucket in view["buckets"]:
        bucket_created = datetime.fromisoformat(bucket["createdAt"])
        for item in view["items"][bucket["id"]]:
            item_created = datetime.fromisoformat(item["createdAt"])
            assert bucket_created <= item_created <= datetime.fromisoformat(item["modifiedAt"])
            assert item["createdAt"].endswith("+00:00")


def test_other_users_see_none_of_it(seed, client, auth):
    seed(*SMALL)
    stranger = auth.register()

    count, _ = every_page(client, BUCKETS, stranger.headers, "buckets")
    assert count == 0
    mine = snapshot(client, login(client))
    some_bucket = mine["buckets"][0]["id"]
    response = client.get(f"{BUCKETS}/{some_bucket}/items", headers=stranger.headers)
    assert response.status_code == 404


def test_the_same_seed_gives_the_same_data(seed, client):
    seed(*SMALL, "--seed", "7")
    first = names(snapshot(client, login(client)))
    seed(*SMALL, "--seed", "7", "--reset")
    again = names(snapshot(client, login(client)))
    seed(*SMALL, "--seed", "8", "--reset")
    other = names(snapshot(client, login(client)))

    assert again == first
    assert other != first


def test_a_second_run_adds_nothing(seed, client, db):
    seed(*SMALL)
    before = snapshot(client, login(client))
    output = seed(*SMALL)

    assert "already exists" in output and "Nothing to add" in output
    after = snapshot(client, login(client))
    assert after == before
    with db_session:
        assert db.select("SELECT COUNT(*) FROM users")[0] == 1


def test_a_run_with_bigger_counts_tops_up(seed, client):
    seed(*SMALL)
    before = snapshot(client, login(client))
    output = seed("--buckets", "8", "--items", "70")

    assert "Adding 3 buckets and 30 items to top it up" in output
    after = snapshot(client, login(client))
    assert after["count"] == 8 and item_total(after) == 70
    kept = {bucket["id"] for bucket in before["buckets"]}
    assert kept <= {bucket["id"] for bucket in after["buckets"]}


def test_reset_replaces_the_data_and_the_password(seed, client):
    seed(*SMALL, "--seed", "1")
    old_token = login(client)
    old = snapshot(client, old_token)
    output = seed("--buckets", "3", "--items", "10", "--seed", "2", "--reset", "--password", "new-secret")

    assert "deleted them (5 buckets, 40 items)" in output
    new_token = login(client, password="new-secret")
    new = snapshot(client, new_token)
    assert new["count"] == 3 and item_total(new) == 10
    assert not {b["id"] for b in old["buckets"]} & {b["id"] for b in new["buckets"]}
    # A changed password revokes earlier tokens, as a reset through the API does.
    assert client.get(BUCKETS, headers=old_token).status_code == 401
    assert client.post("/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).status_code == 401


def test_an_existing_users_password_is_kept_without_reset(seed, client, auth):
    account = auth.register(email="Someone@Bucketmail.com", password="their-own")
    output = seed("--email", "someone@bucketmail.com", "--password", "another", *SMALL)

    assert "left as it is" in output
    count, _ = every_page(client, BUCKETS, login(client, "someone@bucketmail.com", "their-own"), "buckets")
    assert count == 5
    assert client.get(BUCKETS, headers=account.headers).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--buckets", "0", "--items", "3"], "items need a bucket"),
        (["--email", "not-an-email"], "not an email address"),
        (["--password", "abc"], "--password must have 4 to 128 characters"),
    ],
)
def test_impossible_requests_fail_with_one_line_and_change_nothing(
    client, settings, dummy, capsys, db, args, message
):
    assert dummy.main(args, settings=settings) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    with db_session:
        assert db.select("SELECT COUNT(*) FROM users")[0] == 0


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody@127.0.0.1:1/nowhere",  # nothing listens on port 1
        "mysql://user@localhost/bucketlist",
        "sqlite:////nonexistent-directory/sub/bucketlist.sqlite3",
    ],
)
def test_a_bad_database_url_gives_one_clear_line(url, tmp_path):
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, str(DUMMY), *SMALL],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert result.stderr.startswith("dummy: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
