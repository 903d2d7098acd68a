"""--scale: a user with 10,000 buckets and a bucket with 1,000,000 items, beside a small user."""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from tools.bench import BenchError
from tools.bench.database import Database
from tools.bench.scenarios import Client
from tools.bench.servers import service_server
from tools.bench.wrk import Scenario, Settings, find_wrk, load_average, run_wrk

# EXTRA_COLUMNS / EXTRA_VALUES: a counter column (zeroed here) when the served version keeps
# one; Pony's defaults live in Python, not in the table. The service's triggers
# (0006_counter_triggers) count the rows these statements add.
SCALE_SQL = """
INSERT INTO buckets (name, owner_id, created_at, modified_at EXTRA_COLUMNS)
SELECT 'Bucket ' || n, %(big)s, t, t EXTRA_VALUES
FROM (SELECT n, timestamp '2020-01-01' + n * interval '1 minute' AS t
      FROM generate_series(1, %(buckets)s) AS n) AS s;
INSERT INTO buckets (name, owner_id, created_at, modified_at EXTRA_COLUMNS)
SELECT 'Small bucket ' || n, %(small)s, t, t EXTRA_VALUES
FROM (SELECT n, timestamp '2021-01-01' + n * interval '1 minute' AS t FROM generate_series(1, 10) AS n) AS s;
"""
SCALE_ITEMS_SQL = """
INSERT INTO items (name, description, done, bucket_id, created_at, modified_at)
SELECT 'Item ' || n || CASE WHEN n %% 10 = 0 THEN ' travel' ELSE '' END, NULL, n %% 3 = 0, %(bucket)s, t, t
FROM (SELECT n, timestamp '2020-01-01' + n * interval '1 second' AS t
      FROM generate_series(1, %(items)s) AS n) AS s;
"""


def counter_columns(cursor) -> set[tuple[str, str]]:
    cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND column_name IN ('item_count', 'bucket_count')"
    )
    return set(cursor.fetchall())


def time_requests(port: int, token: str, path: str, repeat: int) -> dict:
    client = Client(port, token)
    try:
        for _ in range(3):
            client.call("GET", path)
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            status, raw = client.call("GET", path)
            timings.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise BenchError(f"GET {path} answered {status}: {raw[:200]!r}")
        body = json.loads(raw)
    finally:
        client.close()
    timings.sort()
    return {
        "median_ms": round(statistics.median(timings), 2),
        "p90_ms": round(timings[int(0.9 * (len(timings) - 1))], 2),
        "count": body.get("count"),
        "returned": len(body.get("buckets") or body.get("items") or []),
    }


def run_scale(args: argparse.Namespace, stack: ExitStack) -> dict:
    import psycopg2

    wrk = find_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="bl_bench_scale_"))
    stack.callback(lambda: shutil.rmtree(workdir, ignore_errors=True) if not args.keep else None)
    load_before = load_average()
    print(f"load average before: {load_before}", flush=True)
    db = Database.create_postgres(args.pg_url)
    stack.callback(db.drop)
    secret = secrets.token_urlsafe(48)
    service = service_server(db.url, secret, workdir, args.source, args.workers)
    stack.callback(service.stop)
    service.start_serving()

    password = "scale-password"
    tokens = {}
    for who in ("big", "small"):
        client = Client(service.port)
        body = client.json(
            "POST",
            "/v1/auth/register",
            {"email": f"{who}@bench.test", "password": password},
            201,
        )
        client.close()
        tokens[who] = body["auth_token"]
    started = time.monotonic()
    conn = psycopg2.connect(db.url)
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT email, id FROM users")
        ids = {email.split("@")[0]: uid for email, uid in cursor.fetchall()}
        counters = counter_columns(cursor)
        with_counter = ("buckets", "item_count") in counters
        buckets_sql = SCALE_SQL.replace("EXTRA_COLUMNS", ", item_count" if with_counter else "").replace(
            "EXTRA_VALUES", ", 0" if with_counter else ""
        )
        cursor.execute(
            buckets_sql,
            {"big": ids["big"], "small": ids["small"], "buckets": args.scale_buckets},
        )
        cursor.execute("SELECT max(id) FROM buckets WHERE owner_id = %s", (ids["big"],))
        giant = cursor.fetchone()[0]
        cursor.execute("SELECT min(id) FROM buckets WHERE owner_id = %s", (ids["small"],))
        small_bucket = cursor.fetchone()[0]
        cursor.execute(SCALE_ITEMS_SQL, {"bucket": giant, "items": args.scale_items})
        cursor.execute(SCALE_ITEMS_SQL, {"bucket": small_bucket, "items": 100})
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    conn.close()
    print(
        f"seeded {args.scale_buckets} buckets and {args.scale_items} items"
        f" in {time.monotonic() - started:.0f}s"
    )

    last_buckets = -(-args.scale_buckets // 20)
    last_items = -(-args.scale_items // 20)
    buckets, items = "/v1/bucketlists", f"/v1/bucketlists/{giant}/items"
    cases = [
        ("small user: buckets page 1", "small", f"{buckets}?page=1&limit=20"),
        ("small user: items page 1 (100)", "small", f"/v1/bucketlists/{small_bucket}/items?page=1&limit=20"),
        (f"big user: buckets page 1 (of {args.scale_buckets})", "big", f"{buckets}?page=1&limit=20"),
        (f"big user: buckets middle page {last_buckets // 2}", "big", f"{buckets}?page={last_buckets // 2}"),
        (f"big user: buckets last page {last_buckets}", "big", f"{buckets}?page={last_buckets}&limit=20"),
        (f"giant bucket: items page 1 (of {args.scale_items})", "big", f"{items}?page=1&limit=20"),
        (f"giant bucket: items middle page {last_items // 2}", "big", f"{items}?page={last_items // 2}"),
        (f"giant bucket: items last page {last_items}", "big", f"{items}?page={last_items}&limit=20"),
        ("giant bucket: items q=travel page 1", "big", f"{items}?q=travel&page=1&limit=20"),
    ]
    settings = Settings(
        wrk,
        workdir,
        args.duration or 5,
        1,
        args.connections,
        args.threads,
        args.verbose,
    )
    results = {}
    for label, who, path in cases:
        timing = time_requests(service.port, tokens[who], path, args.scale_repeat)
        scenario = Scenario(
            re.sub(r"\W+", "_", label)[:40],
            label,
            [("GET", path, None)],
            {"Authorization": f"Bearer {tokens[who]}"},
        )
        loaded = run_wrk(settings, service, scenario, settings.duration, "scale")
        results[label] = {"path": path, **timing, "under_load": loaded}
        print(
            f"  {label:<46} single {timing['median_ms']:>8.2f} ms (p90 {timing['p90_ms']:.2f})"
            f"   -c{args.connections}: {loaded['rps']:>7,.0f} req/s p99 {loaded['p99_ms']:.1f} ms",
            flush=True,
        )
    small = results[cases[0][0]]["median_ms"]
    for value in results.values():
        value["vs_small_page_1"] = round(value["median_ms"] / small, 2) if small else None
    load_after = load_average()
    print(f"load average before {load_before}, after {load_after}")
    return {
        "scale": results,
        "run": {"load_average_before": load_before, "load_average_after": load_after},
    }
