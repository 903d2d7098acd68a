"""Schema migrations: `bucketlist migrate [--check]`, `serve --no-migrate`, several instances
migrating at once, and a database made by the first release adopted with every row intact."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pony.orm import Database, PrimaryKey, Required, Set, composite_index, db_session
from pony.orm import Optional as PonyOptional

from bucketlist import create_app, migrate
from bucketlist.config import Settings
from bucketlist.security import hash_password

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("DATABASE_URL_TEST") else [])
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path) -> Settings:
    """Settings of a database with no table at all (a new SQLite file, or a new PostgreSQL database)."""
    secret = "s" * 48
    if request.param == "sqlite":
        yield Settings(
            database_url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}", secret_key=secret, bcrypt_rounds=4
        )
        return
    import psycopg2

    base = Settings(database_url=os.environ["DATABASE_URL_TEST"], secret_key=secret)
    params = base.postgres_params()
    name = f"bucketlist_migrate_{os.getpid()}_{tmp_path.name[-12:]}".lower().replace("-", "_")
    admin = psycopg2.connect(**{**params, "database": "postgres"})
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = base.database_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield Settings(database_url=url, secret_key=secret, bcrypt_rounds=4)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key or ""}
    return subprocess.run(
        [sys.executable, "-m", "bucketlist.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def all_migrations(settings: Settings) -> list[str]:
    folder = migrate.MIGRATIONS_DIR / migrate.dialect_of(settings)
    return sorted(path.stem for path in folder.glob("*.sql") if not path.stem.endswith(".rollback"))


def test_migrate_check_then_apply_then_nothing_pending(empty_database):
    expected = all_migrations(empty_database)
    check = run_cli(empty_database, "migrate", "--check")
    assert check.returncode == 1, check
    assert check.stdout.splitlines() == [f"bucketlist: pending migration {m}" for m in expected]

    applied = run_cli(empty_database, "migrate")
    assert applied.returncode == 0, applied
    assert applied.stdout.splitlines() == [f"bucketlist: applying migration {m}" for m in expected]
    assert "Traceback" not in applied.stderr

    again = run_cli(empty_database, "migrate", "--check")
    assert again.returncode == 0, again
    assert again.stdout.splitlines() == ["bucketlist: the schema is up to date"]


def test_serve_no_migrate_refuses_a_database_with_pending_migrations(empty_database):
    refused = run_cli(empty_database, "serve", "--no-migrate", "--port", "1")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "pending" in lines[0] and "bucketlist migrate" in lines[0]


def test_migrate_without_a_database_is_one_line_and_exit_2(tmp_path):
    unreachable = Settings(database_url="postgresql://postgres@127.0.0.1:1/nothing", secret_key="s" * 48)
    result = run_cli(unreachable, "migrate")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot open the database" in result.stderr and "Traceback" not in result.stderr


def test_instances_migrating_at_once_apply_each_migration_once(empty_database):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run_cli(empty_database, "migrate"), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    lines = [line for r in results for line in r.stdout.splitlines() if "applying" in line]
    assert sorted(lines) == sorted(
        f"bucketlist: applying migration {m}" for m in all_migrations(empty_database)
    )
    assert migrate.pending(empty_database) == []


def define_first_release_entities(db: Database) -> None:
    """The entities of the first release, frozen: its `create_tables` made the databases in use."""

    class User(db.Entity):
        _table_ = "users"
        id = PrimaryKey(int, auto=True)
        email = Required(str, 254, unique=True)
        password_hash = Required(str, 100)
        token_version = Required(int, default=0)
        created_at = Required(datetime, default=lambda: datetime.now(UTC).replace(tzinfo=None))
        bucket_count = Required(int, default=0, optimistic=False)
        buckets = Set("Bucket")

    class Bucket(db.Entity):
        _table_ = "buckets"
        id = PrimaryKey(int, auto=True)
        name = Required(str, 200, autostrip=False)
        owner = Required(User, column="owner_id")
        created_at = Required(datetime)
        modified_at = Required(datetime)
        item_count = Required(int, default=0, optimistic=False)
        items = Set("Item", cascade_delete=False)
        composite_index(owner, created_at, id)

    class Item(db.Entity):
        _table_ = "items"
        id = PrimaryKey(int, auto=True)
        name = Required(str, 200, autostrip=False)
        description = PonyOptional(str, 2000, nullable=True, autostrip=False)
        done = Required(bool, default=False)
        bucket = Required(Bucket, column="bucket_id")
        created_at = Required(datetime)
        modified_at = Required(datetime)
        composite_index(bucket, created_at, id)

    class RevokedToken(db.Entity):
        _table_ = "revoked_tokens"
        jti = PrimaryKey(str, 64)
        expires_at = Required(datetime, index=True)


def make_first_release_database(settings: Settings) -> None:
    db = Database()
    define_first_release_entities(db)
    if settings.is_sqlite:
        db.bind(provider="sqlite", filename=settings.sqlite_path(), create_db=True)
    else:
        db.bind(provider="postgres", **settings.postgres_params())
    db.generate_mapping(create_tables=True)
    moment = datetime(2017, 8, 24, 19, 56, 7, 942974)
    with db_session:
        user = db.User(email="ada@example.org", password_hash=hash_password("analytical", 4), bucket_count=1)
        bucket = db.Bucket(name="Travel 🌍", owner=user, created_at=moment, modified_at=moment, item_count=2)
        db.Item(
            name="Northern lights", description="Tromsø", bucket=bucket, created_at=moment, modified_at=moment
        )
        db.Item(name="Great Wall", done=True, bucket=bucket, created_at=moment, modified_at=moment)
    db.disconnect()


@contextmanager
def migrated_and_signed_in(settings: Settings):
    """`bucketlist migrate`, then a client of the migrated database signed in as ada@example.org."""
    result = run_cli(settings, "migrate")
    assert result.returncode == 0, result.stderr
    app = create_app(settings, migrate=False)
    try:
        with app.test_client() as client:
            login = client.post("/v1/auth/login", json={"email": "ada@example.org", "password": "analytical"})
            assert login.status_code == 200, login.text
            yield client, {"Authorization": f"Bearer {login.json()['auth_token']}"}
    finally:
        app.app.extensions["bucketlist"].db.disconnect()


def test_a_first_release_database_is_adopted_with_every_row(empty_database):
    make_first_release_database(empty_database)
    assert migrate.pending(empty_database) == all_migrations(empty_database)

    with migrated_and_signed_in(empty_database) as (client, headers):
        buckets = client.get("/v1/bucketlists", headers=headers).json()
        assert buckets["count"] == 1
        assert [b["name"] for b in buckets["buckets"]] == ["Travel 🌍"]
        assert buckets["buckets"][0]["createdAt"] == "2017-08-24T19:56:07.942974+00:00"
        items = client.get(f"/v1/bucketlists/{buckets['buckets'][0]['id']}/items", headers=headers).json()
        assert items["count"] == 2
        assert {(i["name"], i["description"], i["done"]) for i in items["items"]} == {
            ("Northern lights", "Tromsø", False),
            ("Great Wall", None, True),
        }
        # Rows from before the sync migration are in a first sync.
        first_sync = client.get("/v1/sync", headers=headers).json()
        assert [b["id"] for b in first_sync["buckets"]] == [b["id"] for b in buckets["buckets"]]
        assert sorted(i["name"] for i in first_sync["items"]) == ["Great Wall", "Northern lights"]
        # New rows go on from the old ids.
        created = client.post("/v1/bucketlists", json={"name": "Learn to cook"}, headers=headers)
        assert created.status_code == 201 and created.json()["id"] == 2
        delta = client.get("/v1/sync", params={"since": first_sync["since"]}, headers=headers).json()
        assert ([b["id"] for b in delta["buckets"]], delta["items"]) == ([2], [])


def test_every_dialect_has_the_same_migrations():
    sqlite, postgresql = (
        sorted(path.name for path in Path(migrate.MIGRATIONS_DIR / dialect).glob("*.sql"))
        for dialect in ("sqlite", "postgresql")
    )
    assert sqlite == postgresql


def test_the_counter_migration_recounts_wrong_counters(empty_database):
    """A database at 0005 whose counters went wrong (a bulk load, a crash between a row and its
    counter) is right after 0006_counter_triggers; its done items are counted by 0007_done_counter."""
    backend = migrate._backend(empty_database)
    try:
        with backend.lock():
            earlier = backend.to_apply(migrate._migrations(empty_database)).filter(
                lambda m: m.id < "0006_counter_triggers"
            )
            backend.apply_migrations(earlier)
        password = hash_password("analytical", 4)
        moment = "2017-08-24 19:56:07.942974"
        with backend.transaction():
            for statement in (
                # Says 5 buckets and has 2; bucket 1 says 9 items and has 3, bucket 2 says 0 and has 1.
                "INSERT INTO users (id, email, password_hash, token_version, created_at, bucket_count)"
                f" VALUES (1, 'ada@example.org', '{password}', 0, '{moment}', 5)",
                "INSERT INTO buckets (id, name, owner_id, created_at, modified_at, item_count)"
                f" VALUES (1, 'Travel', 1, '{moment}', '{moment}', 9),"
                f" (2, 'Cook', 1, '{moment}', '{moment}', 0)",
                "INSERT INTO items (name, done, bucket_id, created_at, modified_at) VALUES"
                f" ('a', false, 1, '{moment}', '{moment}'), ('b', false, 1, '{moment}', '{moment}'),"
                f" ('c', true, 1, '{moment}', '{moment}'), ('d', false, 2, '{moment}', '{moment}')",
            ):
                backend.execute(statement)
    finally:
        backend.connection.close()
    assert migrate.pending(empty_database)[:2] == ["0006_counter_triggers", "0007_done_counter"]

    with migrated_and_signed_in(empty_database) as (client, headers):
        assert client.get("/v1/bucketlists", headers=headers).json()["count"] == 2
        assert client.get("/v1/bucketlists/1/items", headers=headers).json()["count"] == 3
        assert client.get("/v1/bucketlists/2/items", headers=headers).json()["count"] == 1
        for bucket, done, count in ((1, "true", 1), (1, "false", 2), (2, "true", 0), (2, "false", 1)):
            page = client.get(f"/v1/bucketlists/{bucket}/items", params={"done": done}, headers=headers)
            assert (page.json()["count"], len(page.json()["items"])) == (count, count), (bucket, done)
