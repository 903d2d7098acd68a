"""Pony entities, declared on a Database made per application (so tests can run on two)."""

from __future__ import annotations

from datetime import UTC, datetime

from pony.orm import Database, Optional, PrimaryKey, Required, Set, composite_index

from .adaptations import PostgresProvider, never_replay_inside_a_transaction
from .config import Settings

SQLITE_BUSY_TIMEOUT_SECONDS = 10
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


def utcnow() -> datetime:
    """Naive UTC, as stored; rendered with an explicit +00:00 offset."""
    return datetime.now(UTC).replace(tzinfo=None)


def normalise_email(email: str) -> str:
    """The form a user's email is stored and looked up in (see User.email)."""
    return email.strip().lower()


def define_entities(db: Database) -> None:
    class User(db.Entity):
        _table_ = "users"
        id = PrimaryKey(int, auto=True)
        # Stored trimmed and lower-cased, so uniqueness is case-insensitive.
        email = Required(str, 254, unique=True)
        password_hash = Required(str, 100)
        # Bumped by a password reset: tokens carrying an older version are revoked,
        # even those issued within the same second.
        token_version = Required(int, default=0)
        created_at = Required(datetime, default=utcnow)
        # Kept by the database's triggers in the same transaction (migration 0006), so a
        # list's `count` costs one row read, not a COUNT over every bucket.
        bucket_count = Required(int, default=0, optimistic=False)
        buckets = Set("Bucket")

    class Bucket(db.Entity):
        _table_ = "buckets"
        id = PrimaryKey(int, auto=True)
        # autostrip=False: names round-trip exactly; blank names are refused by the spec.
        name = Required(str, 200, autostrip=False)
        owner = Required(User, column="owner_id")
        created_at = Required(datetime)
        modified_at = Required(datetime)
        item_count = Required(int, default=0, optimistic=False)
        # The done ones among them, kept by the same triggers (migration 0007).
        done_count = Required(int, default=0, optimistic=False)
        # Deleting a bucket deletes its items with one statement (see handlers.buckets).
        items = Set("Item", cascade_delete=False)
        # A user's page of buckets, newest first, is one index range scan.
        composite_index(owner, created_at, id)

    class Item(db.Entity):
        _table_ = "items"
        id = PrimaryKey(int, auto=True)
        name = Required(str, 200, autostrip=False)
        description = Optional(str, 2000, nullable=True, autostrip=False)
        done = Required(bool, default=False)
        bucket = Required(Bucket, column="bucket_id")
        created_at = Required(datetime)
        modified_at = Required(datetime)
        composite_index(bucket, created_at, id)

    class RevokedToken(db.Entity):
        _table_ = "revoked_tokens"
        jti = PrimaryKey(str, 64)
        # Kept only until the token would have expired anyway.
        expires_at = Required(datetime, index=True)


def bind_database(
    settings: Settings, *, statement_timeout_ms: int | None = None, lock_timeout_ms: int | None = None
) -> Database:
    """Bind a new Database onto the tables the migrations made (`bucketlist.migrate`).

    `statement_timeout_ms` bounds every statement (PostgreSQL), and `lock_timeout_ms` its
    wait for a lock, so a database that stops answering becomes an error (a 503) instead of
    a hung request."""
    db = Database()
    define_entities(db)
    if settings.is_sqlite:
        db.bind(
            provider="sqlite",
            filename=settings.sqlite_path(),
            create_db=True,
            timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
        )

        @db.on_connect(provider="sqlite")
        def _sqlite_pragmas(_db: Database, connection) -> None:
            cursor = connection.cursor()
            # WAL lets readers work while one process writes; NORMAL is durable in WAL mode
            # except for the last transactions on power loss.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    else:
        db.bind(
            provider=PostgresProvider,
            connect_timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS,
            application_name="bucketlist",
            # ISO dates whatever the server's default: the lists read timestamps as text.
            options=" ".join(
                ["-c datestyle=ISO"]
                + ([f"-c statement_timeout={statement_timeout_ms}"] if statement_timeout_ms else [])
                + ([f"-c lock_timeout={lock_timeout_ms}"] if lock_timeout_ms else [])
            ),
            **settings.postgres_params(),
        )
    never_replay_inside_a_transaction(db)
    # Pony checks that the tables are there; it never creates or alters them.
    db.generate_mapping(create_tables=False)
    return db
