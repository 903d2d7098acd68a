"""A Python client generated from the spec by openapi-python-client drives a live server.

The generator must run without a warning, and the generated code must cover the whole
user flow: register, log in, buckets with pagination and search, items, updates, done,
deletes, log out, and the revoked token refused afterwards.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from helpers import query_of
from live_server import LiveServer, live_server

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "bucketlist.yaml"
PACKAGE = "bucketlist_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
GENERATE_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """Generate the client once for this module; yields its modules and the generator's output."""
    out = tmp_path_factory.mktemp("sdk")
    # The generator formats its output with ruff (a test dependency) found on PATH;
    # without it, it warns "ruff is not in PATH".
    env = {**os.environ, "PATH": os.pathsep.join([str(GENERATOR.parent), os.environ.get("PATH", "")])}
    command = [str(GENERATOR), "generate", "--path", str(SPEC), "--meta", "none", "--fail-on-warning"]
    command += ["--output-path", str(out / PACKAGE)]
    result = subprocess.run(
        command,
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=GENERATE_TIMEOUT_SECONDS,
        check=False,
    )
    sys.path.insert(0, str(out))
    try:

        def module(name: str) -> ModuleType:
            return importlib.import_module(f"{PACKAGE}.{name}")

        yield SimpleNamespace(result=result, module=module)
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def sdk(generated) -> SimpleNamespace:
    assert generated.result.returncode == 0, generated.result.stdout + generated.result.stderr
    m = generated.module
    return SimpleNamespace(
        Client=m("client").Client,
        AuthenticatedClient=m("client").AuthenticatedClient,
        models=m("models"),
        register=m("api.auth.auth_register"),
        login=m("api.auth.auth_login"),
        logout=m("api.auth.auth_logout"),
        reset_password=m("api.auth.auth_reset_password"),
        list_buckets=m("api.buckets.buckets_list_buckets"),
        create_bucket=m("api.buckets.buckets_create_bucket"),
        get_bucket=m("api.buckets.buckets_get_bucket"),
        update_bucket=m("api.buckets.buckets_update_bucket"),
        patch_bucket=m("api.buckets.buckets_patch_bucket"),
        delete_bucket=m("api.buckets.buckets_delete_bucket"),
        list_items=m("api.items.items_list_items"),
        create_item=m("api.items.items_create_item"),
        get_item=m("api.items.items_get_item"),
        update_item=m("api.items.items_update_item"),
        patch_item=m("api.items.items_patch_item"),
        delete_item=m("api.items.items_delete_item"),
        sync=m("api.sync.sync_sync"),
        export_account=m("api.account.account_export_account"),
        delete_account=m("api.account.account_delete_account"),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("sdk-server")) as running:
        yield running


@pytest.fixture
def connect(sdk, server: LiveServer) -> Iterator[Callable]:
    """`connect()` gives an anonymous client, `connect(token)` a signed-in one; all closed after the test."""
    with ExitStack() as clients:

        def connect(token: str | None = None):
            options = {"base_url": server.api, "raise_on_unexpected_status": True}
            client = (
                sdk.Client(**options) if token is None else sdk.AuthenticatedClient(token=token, **options)
            )
            return clients.enter_context(client)

        yield connect


def test_generator_reports_nothing_but_success(generated) -> None:
    result = generated.result
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    # It says "Generating <path>" and nothing else: any warning or error shows up here.
    assert [line for line in output.splitlines() if not line.startswith("Generating ")] == []


def test_account_flow(sdk, connect) -> None:
    m = sdk.models
    anonymous = connect()
    credentials = m.Credentials(email="Sdk.User@BucketMail.com", password="first password")

    registered = sdk.register.sync_detailed(client=anonymous, body=credentials)
    assert registered.status_code == 201
    assert registered.parsed.message == "Successfully registered"
    assert registered.parsed.status == m.Success.SUCCESS

    again = sdk.register.sync_detailed(
        client=anonymous,
        body=m.Credentials(email="sdk.user@bucketmail.com", password="x" * 8),
    )
    assert again.status_code == 409
    assert again.parsed.status == m.ErrorStatus.FAILED
    assert again.parsed.message == "Failed, User already exists, Please sign In"

    wrong = sdk.login.sync_detailed(
        client=anonymous, body=m.Credentials(email=credentials.email, password="not it")
    )
    assert wrong.status_code == 401
    assert wrong.parsed.message == "User does not exist or password is incorrect"

    bad_format = sdk.login.sync_detailed(client=anonymous, body=m.Credentials(email="nobody", password="12"))
    assert bad_format.status_code == 400
    assert {e.field for e in bad_format.parsed.errors} >= {"email"}

    logged_in = sdk.login.sync(client=anonymous, body=credentials)
    assert isinstance(logged_in, m.TokenResponse), logged_in
    assert logged_in.message == "Successfully logged In"
    user = connect(logged_in.auth_token)
    assert sdk.list_buckets.sync(client=user).count == 0

    reset = sdk.reset_password.sync(
        client=user,
        body=m.PasswordReset(
            old_password="first password",
            new_password="second password",
            password_confirmation="second password",
        ),
    )
    assert reset.message == "Password reset successfully"
    # The reset revoked the token it was sent with; the new one works.
    revoked = sdk.list_buckets.sync_detailed(client=user)
    assert revoked.status_code == 401
    assert revoked.parsed.message == "Token has been revoked, Please sign in again"
    assert revoked.headers["WWW-Authenticate"].startswith("Bearer")
    user = connect(reset.auth_token)

    logged_out = sdk.logout.sync(client=user)
    assert logged_out.message == "Successfully logged out"
    after_logout = sdk.list_buckets.sync_detailed(client=user)
    assert after_logout.status_code == 401
    assert after_logout.parsed.message == "Token has been revoked, Please sign in again"

    no_token = sdk.list_buckets.sync_detailed(client=anonymous)
    assert no_token.status_code == 401
    assert no_token.parsed.message == "Provide an authorization header"


def test_buckets_and_items_flow(sdk, connect) -> None:
    m = sdk.models
    anonymous = connect()
    token = sdk.register.sync(
        client=anonymous,
        body=m.Credentials(email="flow@bucketmail.com", password="1234"),
    ).auth_token
    user = connect(token)

    # Buckets: create five, page through them two at a time, newest first.
    names = [
        "Travel the world",
        "Learn Go",
        "Run a marathon",
        "Travel to Japan",
        "Write a book 📚",
    ]
    created = []
    for name in names:
        response = sdk.create_bucket.sync_detailed(client=user, body=m.BucketCreate(name=name))
        assert response.status_code == 201
        assert response.parsed.name == name
        assert response.headers["Location"].endswith(f"/v1/bucketlists/{response.parsed.id}")
        assert response.parsed.created_at.utcoffset().total_seconds() == 0
        created.append(response.parsed)

    first = sdk.list_buckets.sync(client=user, limit=2)
    assert (first.count, first.page, first.limit) == (5, 1, 2)
    assert [b.name for b in first.buckets] == names[::-1][:2]
    assert first.previous is None
    assert query_of(first.next_)["page"] == ["2"] and query_of(first.next_)["limit"] == ["2"]
    seen = [b.id for b in first.buckets]
    page = first
    while page.next_:
        page = sdk.list_buckets.sync(client=user, page=int(query_of(page.next_)["page"][0]), limit=2)
        seen += [b.id for b in page.buckets]
    assert seen == [b.id for b in reversed(created)]
    past_the_end = sdk.list_buckets.sync(client=user, page=9, limit=2)
    assert (past_the_end.count, past_the_end.buckets) == (5, [])

    travel = sdk.list_buckets.sync(client=user, q="TRAVEL")
    assert [b.name for b in travel.buckets] == ["Travel to Japan", "Travel the world"]
    assert travel.count == 2
    out_of_range = sdk.list_buckets.sync_detailed(client=user, limit=101)
    assert out_of_range.status_code == 400

    bucket_id = created[0].id
    fetched = sdk.get_bucket.sync(bucket_id, client=user)
    assert (fetched.bucket.id, fetched.bucket.name) == (bucket_id, names[0])
    renamed = sdk.update_bucket.sync(
        bucket_id, client=user, body=m.BucketUpdate(name="Travel the whole world")
    )
    assert renamed.name == "Travel the whole world"
    assert renamed.modified_at >= renamed.created_at
    patched = sdk.patch_bucket.sync(bucket_id, client=user, body=m.BucketUpdate(name="See the world"))
    assert sdk.get_bucket.sync(bucket_id, client=user).bucket.name == patched.name == "See the world"

    # Items in that bucket.
    item = sdk.create_item.sync_detailed(
        bucket_id,
        client=user,
        body=m.ItemCreate(name="See the northern lights", description="Tromsø, in February"),
    )
    assert item.status_code == 201
    assert item.headers["Location"].endswith(f"/v1/bucketlists/{bucket_id}/items/{item.parsed.item.id}")
    lights = item.parsed.item
    assert (lights.bucket_id, lights.done, lights.description) == (
        bucket_id,
        False,
        "Tromsø, in February",
    )
    dunes = sdk.create_item.sync(
        bucket_id, client=user, body=m.ItemCreate(name="Climb a dune", done=True)
    ).item
    assert (dunes.done, dunes.description) == (True, None)

    items = sdk.list_items.sync(bucket_id, client=user)
    assert [i.id for i in items.items] == [dunes.id, lights.id]
    assert sdk.list_items.sync(bucket_id, client=user, q="northern").count == 1
    assert sdk.get_item.sync(bucket_id, lights.id, client=user).item.name == "See the northern lights"

    done = sdk.update_item.sync(bucket_id, lights.id, client=user, body=m.ItemUpdate(done=True))
    assert (done.item.done, done.item.name) == (True, "See the northern lights")
    cleared = sdk.patch_item.sync(
        bucket_id,
        lights.id,
        client=user,
        body=m.ItemUpdate(description=None, name="Aurora"),
    )
    assert (cleared.item.description, cleared.item.name, cleared.item.done) == (
        None,
        "Aurora",
        True,
    )
    nothing = sdk.update_item.sync_detailed(bucket_id, lights.id, client=user, body=m.ItemUpdate())
    assert nothing.status_code == 400
    assert nothing.parsed.message == "No attribute or value was specified, nothing was changed"

    deleted = sdk.delete_item.sync(bucket_id, dunes.id, client=user)
    assert deleted.message == f"Successfully deleted the item from bucket with Id {bucket_id}"
    gone = sdk.get_item.sync_detailed(bucket_id, dunes.id, client=user)
    assert (gone.status_code, gone.parsed.message) == (404, "Item not found")

    # Someone else sees none of it.
    other_token = sdk.register.sync(
        client=anonymous,
        body=m.Credentials(email="other@bucketmail.com", password="1234"),
    ).auth_token
    other = connect(other_token)
    assert sdk.list_buckets.sync(client=other).count == 0
    assert sdk.get_bucket.sync_detailed(bucket_id, client=other).parsed.message == "Bucket not found"

    assert sdk.delete_bucket.sync(bucket_id, client=user).message == "Bucket Deleted successfully"
    assert sdk.get_bucket.sync_detailed(bucket_id, client=user).status_code == 404
    assert sdk.get_item.sync_detailed(bucket_id, lights.id, client=user).status_code == 404
    assert sdk.list_buckets.sync(client=user).count == 4

    assert sdk.logout.sync(client=user).message == "Successfully logged out"
    refused = sdk.create_bucket.sync_detailed(client=user, body=m.BucketCreate(name="Too late"))
    assert (refused.status_code, refused.parsed.message) == (
        401,
        "Token has been revoked, Please sign in again",
    )


def test_sync_loop_export_and_account_deletion(sdk, connect) -> None:
    """The loop a phone app runs: page through changes until `more` is false, keep the token,
    apply deletions; then take the data out and close the account."""
    m = sdk.models
    anonymous = connect()
    credentials = m.Credentials(email="syncing@bucketmail.com", password="1234")
    user = connect(sdk.register.sync(client=anonymous, body=credentials).auth_token)
    bucket_ids = [sdk.create_bucket.sync(client=user, body=m.BucketCreate(name=f"B{n}")).id for n in range(3)]
    item = sdk.create_item.sync(bucket_ids[0], client=user, body=m.ItemCreate(name="Rome")).item

    buckets: dict[int, object] = {}
    items: dict[int, object] = {}
    since = None

    def sync_until_done() -> int:
        nonlocal since
        calls = 0
        while True:
            page = sdk.sync.sync(client=user, limit=2, **({"since": since} if since else {}))
            calls += 1
            buckets.update({b.id: b for b in page.buckets})
            items.update({i.id: i for i in page.items})
            for gone in page.deleted.buckets:
                buckets.pop(gone, None)
                for item_id in [k for k, v in items.items() if v.bucket_id == gone]:
                    del items[item_id]
            for gone in page.deleted.items:
                items.pop(gone, None)
            since = page.since
            if not page.more:
                return calls

    assert sync_until_done() == 2  # four rows, two a page
    assert sorted(buckets) == bucket_ids and list(items) == [item.id]
    sdk.update_item.sync(bucket_ids[0], item.id, client=user, body=m.ItemUpdate(done=True))
    sdk.delete_bucket.sync(bucket_ids[1], client=user)
    assert sync_until_done() == 1
    assert sorted(buckets) == [bucket_ids[0], bucket_ids[2]] and items[item.id].done is True

    tampered = sdk.sync.sync_detailed(client=user, since="A" + since[1:])
    assert (tampered.status_code, tampered.parsed.message) == (400, "Invalid sync token")

    exported = sdk.export_account.sync(client=user)
    assert exported.email == "syncing@bucketmail.com"
    assert [b.id for b in exported.buckets] == [bucket_ids[0], bucket_ids[2]]
    assert [i.id for i in exported.buckets[0].items] == [item.id]

    wrong = sdk.delete_account.sync_detailed(client=user, body=m.AccountDeletion(password="nope"))
    assert (wrong.status_code, wrong.parsed.message) == (401, "Incorrect password")
    deleted = sdk.delete_account.sync(client=user, body=m.AccountDeletion(password="1234"))
    assert deleted.message == "Account deleted"
    refused = sdk.sync.sync_detailed(client=user)
    assert (refused.status_code, refused.parsed.message) == (401, "Invalid token. Please sign in again")


def test_a_retried_create_and_a_conditional_update(sdk, connect) -> None:
    """The README's example: a create retried with its Idempotency-Key, then an update that
    refuses to overwrite a change made elsewhere."""
    m = sdk.models
    token = sdk.register.sync(
        client=connect(), body=m.Credentials(email="retry@bucketmail.com", password="1234")
    ).auth_token
    user = connect(token)

    key = "3f1c1d52-8f0e-4b8f-9f59-1d1f4f0c2a11"
    first = sdk.create_bucket.sync_detailed(
        client=user, body=m.BucketCreate(name="Travel"), idempotency_key=key
    )
    retry = sdk.create_bucket.sync_detailed(
        client=user, body=m.BucketCreate(name="Travel"), idempotency_key=key
    )
    assert first.status_code == retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.parsed.id == first.parsed.id
    assert sdk.list_buckets.sync(client=user).count == 1
    reused = sdk.create_bucket.sync_detailed(
        client=user, body=m.BucketCreate(name="Other"), idempotency_key=key
    )
    assert (reused.status_code, reused.parsed.message) == (
        422,
        "Idempotency-Key reused with a different request",
    )

    bucket_id = first.parsed.id
    read = sdk.get_bucket.sync_detailed(bucket_id, client=user)
    tag = read.headers["ETag"]
    assert tag == first.headers["ETag"]
    unchanged = sdk.get_bucket.sync_detailed(bucket_id, client=user, if_none_match=tag)
    assert (unchanged.status_code, unchanged.content) == (304, b"")

    # Another device renames the bucket; our update, based on what we read, is refused.
    sdk.patch_bucket.sync(bucket_id, client=user, body=m.BucketUpdate(name="Travel far"))
    stale = sdk.update_bucket.sync_detailed(
        bucket_id, client=user, body=m.BucketUpdate(name="Travel near"), if_match=tag
    )
    assert (stale.status_code, stale.parsed.message) == (412, "The bucket has changed since you read it")
    fresh = sdk.get_bucket.sync_detailed(bucket_id, client=user)
    assert fresh.parsed.bucket.name == "Travel far"
    updated = sdk.update_bucket.sync_detailed(
        bucket_id, client=user, body=m.BucketUpdate(name="Travel near"), if_match=fresh.headers["ETag"]
    )
    assert (updated.status_code, updated.parsed.name) == (200, "Travel near")
    assert updated.headers["ETag"] == sdk.get_bucket.sync_detailed(bucket_id, client=user).headers["ETag"]

    item = sdk.create_item.sync_detailed(
        bucket_id, client=user, body=m.ItemCreate(name="Go"), idempotency_key="item-1"
    )
    stale_item = sdk.delete_item.sync_detailed(bucket_id, item.parsed.item.id, client=user, if_match='"old"')
    assert (stale_item.status_code, stale_item.parsed.message) == (
        412,
        "The item has changed since you read it",
    )
    gone = sdk.delete_item.sync_detailed(
        bucket_id, item.parsed.item.id, client=user, if_match=item.headers["ETag"]
    )
    assert gone.status_code == 200
