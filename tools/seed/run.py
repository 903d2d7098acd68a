"""The run: find or create the user, add what it lacks in one transaction, say what was done."""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

import psycopg2
from pony.orm import Database, TransactionError, db_session
from pony.orm.dbapiprovider import DBException

from bucketlist import changes, migrate
from bucketlist.config import ConfigurationError, Settings
from bucketlist.models import bind_database, utcnow
from bucketlist.security import check_password, hash_password
from tools.seed.content import THEMES, Content
from tools.seed.options import Options, UsageError, parse_options
from tools.seed.progress import Progress, counted
from tools.seed.rows import new_buckets, new_items, spread_items
from tools.seed.writers import BulkWriter, bulk_writer, refresh_counters

PROG = "dummy"
ANALYZE_ROWS = 50_000  # PostgreSQL: refresh planner statistics after adding this many rows

# Pony wraps what goes through the ORM; the bulk path raises the drivers' own errors.
DATABASE_ERRORS = (DBException, TransactionError, psycopg2.Error, sqlite3.Error)


@dataclass
class Outcome:
    buckets_added: int = 0
    items_added: int = 0
    buckets_now: int = 0
    items_now: int = 0
    insert_seconds: float = 0.0


def seed_user(db: Database, options: Options, settings: Settings, out: TextIO) -> Outcome:
    """Find or create the user, then add what it lacks: all in one transaction."""
    with db_session:
        found = db.User.get(email=options.email)
        stored_hash = found.password_hash if found else None
    # bcrypt is slow on purpose: hash and check before the write transaction, not while holding it.
    password_matches = stored_hash is not None and check_password(options.password, stored_hash)
    needs_hash = stored_hash is None or (options.reset and not password_matches)
    new_hash = hash_password(options.password, settings.bcrypt_rounds) if needs_hash else None
    with db_session:
        writer = bulk_writer(db)
        user = _find_or_create_user(db, options, new_hash, password_matches, out)
        # The user's row lock first, as every write of the user's data takes it (bucketlist.changes).
        seq = changes.begin_write(db, user.id)
        buckets_before = db.Bucket.select(lambda b: b.owner == user).count()
        items_before = db.Item.select(lambda i: i.bucket.owner == user).count()
        if buckets_before or items_before:
            print(f"It has {buckets_before:,} buckets and {items_before:,} items.", file=out)
        if options.reset:
            deleted = buckets_before, items_before
            buckets_before = items_before = 0
        outcome = Outcome(
            buckets_added=max(options.buckets - buckets_before, 0),
            items_added=max(options.items - items_before, 0),
        )
        outcome.buckets_now = buckets_before + outcome.buckets_added
        outcome.items_now = items_before + outcome.items_added
        if outcome.items_added and not outcome.buckets_now:
            # Raised inside the transaction: the user and its data stay as they were.
            raise UsageError("items need a bucket to go in: ask for --buckets 1 or more; nothing was changed")
        if options.reset:
            _delete_content(db, user.id)
            print(f"--reset: deleted them ({deleted[0]:,} buckets, {deleted[1]:,} items).", file=out)
        _announce(options, buckets_before, items_before, outcome, out)
        started = time.perf_counter()
        _add_content(db, writer, user.id, options.seed, outcome, out)
        if options.reset or outcome.buckets_added or outcome.items_added:
            refresh_counters(db, user.id, seq, deleted=options.reset)
        if (
            db.provider.dialect == "PostgreSQL"
            and outcome.buckets_added + outcome.items_added >= ANALYZE_ROWS
        ):
            # Fresh statistics, so the first list queries are planned for the new table sizes
            # (autovacuum would get there, later; for small runs it does not matter).
            db.execute("ANALYZE buckets")
            db.execute("ANALYZE items")
        # Generation, inserts, counters, statistics: the write phase the rate is about.
        outcome.insert_seconds = time.perf_counter() - started
    return outcome


def _find_or_create_user(
    db: Database, options: Options, new_hash: str | None, password_matches: bool, out: TextIO
):
    """`new_hash` is None when the stored password already is the --password, or must stay."""
    user = db.User.get(email=options.email)
    if user is None:
        if new_hash is None:  # deleted since we looked: too rare to handle beyond saying so
            raise UsageError(f"{options.email} was deleted while this ran; run it again")
        user = db.User(email=options.email, password_hash=new_hash, created_at=utcnow())
        user.flush()  # its id is needed by the bulk inserts below
        print(f"User {options.email}: created (id {user.id}).", file=out)
        return user
    print(f"User {options.email}: already exists (id {user.id}), not created again.", file=out)
    if options.reset and new_hash is not None and not password_matches:
        user.password_hash = new_hash
        # As a password reset through the API does: tokens issued before it stop working.
        user.token_version += 1
        print("--reset: its password is now the --password given.", file=out)
    elif not password_matches:
        print("Its password differs from --password and was left as it is (--reset sets it).", file=out)
    return user


def _delete_content(db: Database, user_id: int) -> None:
    # Two set-based statements; Pony's cascade would issue one DELETE per row.
    params = {"uid": user_id}
    db.execute("DELETE FROM items WHERE bucket_id IN (SELECT id FROM buckets WHERE owner_id = $uid)", params)
    db.execute("DELETE FROM buckets WHERE owner_id = $uid", params)


def _announce(
    options: Options, buckets_before: int, items_before: int, outcome: Outcome, out: TextIO
) -> None:
    if not (outcome.buckets_added or outcome.items_added):
        print(
            f"Nothing to add: it already has at least {options.buckets:,} buckets and {options.items:,} items"
            " (--reset replaces them).",
            file=out,
        )
        return
    topping_up = " to top it up" if buckets_before or items_before else ""
    print(
        f"Adding {outcome.buckets_added:,} buckets and {outcome.items_added:,} items{topping_up}"
        f" (--seed {options.seed}).",
        file=out,
    )


def _add_content(
    db: Database, writer: BulkWriter, user_id: int, seed: int, outcome: Outcome, out: TextIO
) -> None:
    content = Content(seed)
    rng = random.Random(seed)
    now = utcnow()
    with Progress(outcome.buckets_added + outcome.items_added, out) as progress:
        themes, bucket_rows = new_buckets(content, rng, user_id, outcome.buckets_added, now)
        writer.buckets(counted(bucket_rows, progress))
        if outcome.items_added:
            plans = spread_items(rng, _all_buckets(db, user_id, themes, rng), outcome.items_added)
            writer.items(counted(new_items(content, rng, plans, now), progress))


def _all_buckets(
    db: Database, user_id: int, new_themes: list[int], rng: random.Random
) -> list[tuple[int, datetime, int]]:
    """Every bucket of the user with the theme its items should follow.

    The new buckets are the last ids, in the order they were generated; older buckets,
    perhaps made by hand, get a random theme.
    """
    rows = db.select("SELECT id, created_at FROM buckets WHERE owner_id = $uid ORDER BY id", {"uid": user_id})
    old = len(rows) - len(new_themes)
    themes = [int(rng.random() * len(THEMES)) for _ in range(old)] + new_themes
    return [
        (bucket_id, _as_datetime(created), theme)
        for (bucket_id, created), theme in zip(rows, themes, strict=True)
    ]


def _as_datetime(value: datetime | str) -> datetime:
    # Raw SQL skips Pony's converters: SQLite hands back the stored text.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def describe(settings: Settings) -> str:
    """Where the data goes, without the password a URL may hold."""
    if settings.is_sqlite:
        return f"SQLite file {settings.sqlite_path()}"
    params = settings.postgres_params()
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
    return f"PostgreSQL database {params['database']} on {where}"


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """The command; tests pass their own `settings` to seed the database their app uses."""
    out = sys.stdout
    started = time.perf_counter()
    try:
        options = parse_options(argv)
        settings = settings or Settings.from_env()
        target = describe(settings)
    except (UsageError, ConfigurationError) as exc:
        return _fail(str(exc))
    try:
        # The schema first, as `bucketlist serve` would: the seeder may be the first to run.
        migrate.apply(settings, report=lambda line: print(line.capitalize() + ".", file=out))
        db = bind_database(settings)
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator, not a traceback
        return _fail(f"cannot open the database ({target}): {exc}")
    try:
        print(f"Seeding {target}.", file=out)
        outcome = seed_user(db, options, settings, out)
    except UsageError as exc:
        return _fail(str(exc))
    except DATABASE_ERRORS as exc:
        return _fail(f"database error, nothing was saved: {exc}")
    except KeyboardInterrupt:
        return _fail("interrupted, nothing was saved", code=130)
    finally:
        db.disconnect()
    _summarise(options, outcome, time.perf_counter() - started, out)
    return 0


def _summarise(options: Options, outcome: Outcome, elapsed: float, out: TextIO) -> None:
    rows = outcome.buckets_added + outcome.items_added
    if rows:
        # The rate counts the write phase only: startup and bcrypt would swamp small runs.
        rate = rows / outcome.insert_seconds
        added = (
            f"added {outcome.buckets_added:,} buckets and {outcome.items_added:,} items"
            f" ({rows:,} rows in {outcome.insert_seconds:.1f} s, {rate:,.0f} rows/s)"
        )
    else:
        added = "nothing added"
    print(
        f"Done in {elapsed:.1f} s: {added}. {options.email} now has"
        f" {outcome.buckets_now:,} buckets and {outcome.items_now:,} items.",
        file=out,
    )


def _fail(message: str, code: int = 2) -> int:
    # Drivers' messages run over several lines; the first one says what went wrong.
    print(f"{PROG}: {message.strip().splitlines()[0] if message.strip() else 'failed'}", file=sys.stderr)
    return code
