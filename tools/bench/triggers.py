"""What the search-count triggers (migration 0009_search_totals) cost each write, in the database.

    python -m tools.bench --triggers [--rounds N]

A fresh PostgreSQL database, migrated as `bucketlist migrate` does, with 20,000 users and
their buckets; 10,000 of them have a remembered search of their bucket's items, the others of
their buckets. Single-row inserts, renames and deletes of items run in a plpgsql loop inside
the database (no network, no Python; a commit per row, not waiting for the disk), three ways
in turn each round:

- `off`: the search-count triggers disabled (ALTER TABLE ... DISABLE TRIGGER);
- `on`: enabled, writing to buckets with no remembered search (nearly every write);
- `on, searched`: enabled, writing to a bucket whose items' search is remembered, with names
  that match it: the triggers update the count on every row.

Then one INSERT ... SELECT of `--trigger-bulk` rows into one bucket, off and on. It prints the
median microseconds per row of each, and the difference with `off`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack

from tools.bench.database import Database

USERS = 20_000
ROWS = 5_000
TRIGGERS = ("items_searched_in", "items_searched_out", "items_searched_changed")
SEARCHED_BUCKET = 1
OTHER_BUCKET = 2  # its owner's remembered search is of their buckets, not of these items

SEED_SQL = f"""
INSERT INTO users (email, password_hash, token_version, created_at, bucket_count)
SELECT 'user' || n || '@bench.test', 'x', 0, now(), 0 FROM generate_series(1, {USERS}) AS n;
INSERT INTO buckets (name, owner_id, created_at, modified_at, item_count)
SELECT 'Bucket ' || n, n, now(), now(), 0 FROM generate_series(1, {USERS}) AS n;
-- Odd users remember a search of their bucket's items (bucket id = user id), even ones a
-- search of their buckets.
INSERT INTO search_totals (owner_id, list, parent_id, pattern, done, total, counted_at)
SELECT n, CASE WHEN n % 2 = 1 THEN 'items' ELSE 'buckets' END, n, '%travel%', -1, 0, now()
FROM generate_series(1, {USERS}) AS n;
ANALYZE;
"""

# Microseconds per row of `rows` single-row statements of each kind on `bucket`, each in a
# transaction of its own as a request's would be (a statement's trigger updating one row of
# search_totals thousands of times in one transaction would walk an ever longer chain of its
# versions, which no request does); synchronous_commit is off for the run, so a commit costs
# no wait for the disk.
LOOP_SQL = """
CREATE PROCEDURE pg_temp.write_rows(bucket int, rows int, INOUT insert_us numeric = 0,
                                    INOUT rename_us numeric = 0, INOUT delete_us numeric = 0)
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz;
    first_id int;
BEGIN
    started := clock_timestamp();
    FOR i IN 1..rows LOOP
        INSERT INTO items (name, done, bucket_id, created_at, modified_at)
        VALUES ('Travel ' || i, false, bucket, now(), now());
        COMMIT;
    END LOOP;
    insert_us := extract(epoch FROM clock_timestamp() - started) * 1e6 / rows;
    SELECT min(id) INTO first_id FROM items WHERE bucket_id = bucket;
    started := clock_timestamp();
    FOR i IN 0..rows - 1 LOOP
        UPDATE items SET name = 'Stay home ' || i, modified_at = now() WHERE id = first_id + i;
        COMMIT;
    END LOOP;
    rename_us := extract(epoch FROM clock_timestamp() - started) * 1e6 / rows;
    started := clock_timestamp();
    FOR i IN 0..rows - 1 LOOP
        DELETE FROM items WHERE id = first_id + i;
        COMMIT;
    END LOOP;
    delete_us := extract(epoch FROM clock_timestamp() - started) * 1e6 / rows;
END
$$;
"""

WAYS = {"off": (False, OTHER_BUCKET), "on": (True, OTHER_BUCKET), "on, searched": (True, SEARCHED_BUCKET)}


def run_triggers(args: argparse.Namespace, stack: ExitStack) -> dict:
    from bucketlist.config import Settings
    from bucketlist.migrate import apply

    db = Database.create_postgres(args.pg_url)
    stack.callback(db.drop)
    apply(Settings(database_url=db.url), report=lambda _line: None)
    cursor = stack.enter_context(db.connection()).cursor()
    cursor.execute(SEED_SQL)
    cursor.execute(LOOP_SQL)
    cursor.execute("SET synchronous_commit = off")
    rounds = args.rounds or 3
    figures: dict[str, dict[str, list[float]]] = {way: {} for way in WAYS}
    print(
        f"{USERS:,} users, each with a remembered search; {ROWS:,} single-row statements a kind", flush=True
    )
    for number in range(1, rounds + 1):
        for way, (enabled, bucket) in WAYS.items():
            _start(cursor, enabled)
            cursor.execute("CALL pg_temp.write_rows(%s, %s)", (bucket, ROWS))
            for kind, us in zip(("insert", "rename", "delete"), cursor.fetchone(), strict=True):
                figures[way].setdefault(kind, []).append(float(us))
        print(f"  round {number}/{rounds} done", flush=True)
    bulk: dict[str, float] = {}
    for way in ("off", "on"):
        _start(cursor, way == "on")
        started = time.perf_counter()
        cursor.execute(
            "INSERT INTO items (name, done, bucket_id, created_at, modified_at)"
            " SELECT 'Travel ' || n, false, %s, now(), now() FROM generate_series(1, %s) AS n",
            (OTHER_BUCKET, args.trigger_bulk),
        )
        bulk[way] = (time.perf_counter() - started) * 1e6 / args.trigger_bulk
    return report(figures, bulk, args.trigger_bulk)


def _start(cursor, enabled: bool) -> None:
    """No items (emptied with the triggers off: a TRUNCATE would forget every remembered
    search), and the search-count triggers on or off."""
    _set_triggers(cursor, False)
    cursor.execute("DELETE FROM items")
    _set_triggers(cursor, enabled)


def _set_triggers(cursor, enabled: bool) -> None:
    for trigger in TRIGGERS:
        cursor.execute(f"ALTER TABLE items {'ENABLE' if enabled else 'DISABLE'} TRIGGER {trigger}")


def report(figures: dict[str, dict[str, list[float]]], bulk: dict[str, float], bulk_rows: int) -> dict:
    medians = {
        way: {kind: statistics.median(values) for kind, values in kinds.items()}
        for way, kinds in figures.items()
    }
    print(f"\n{'µs per row (median of rounds)':<32}" + "".join(f"{way:>16}" for way in WAYS))
    for kind in medians["off"]:
        cells = []
        for way in WAYS:
            value = medians[way][kind]
            extra = "" if way == "off" else f" ({value - medians['off'][kind]:+.1f})"
            cells.append(f"{value:.1f}{extra}".rjust(16))
        print(f"{kind:<32}" + "".join(cells))
    label = f"one INSERT of {bulk_rows:,} rows"
    on = f"{bulk['on']:.2f} ({bulk['on'] - bulk['off']:+.2f})"
    print(f"{label:<32}{bulk['off']:>16.2f}{on:>16}")
    return {"single_row_us": medians, "bulk_insert_us_per_row": bulk, "bulk_rows": bulk_rows}
