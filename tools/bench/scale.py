"""--scale: a user with 100,000 buckets and a bucket with 1,000,000 items, beside a small user.

Two measurements, both against `bucketlist serve` on a PostgreSQL database seeded here:

- flat at any size: the median of single requests for pages of the big lists (page 1, pages
  by number, and the pages their `next`/`previous` links lead to), each as a ratio to the
  small user's buckets page 1, timed in between; with each case's throughput and p99 under
  wrk (`--scale-wrk-seconds`);
- contention: the p99 of cheap requests (the small user's buckets page 1 and one of their
  items) under wrk, in a quiet run and in a run while one more client pages through the
  million-item bucket by its `next` links and searches it (`q=travel`, following `next`),
  alternating quiet and loaded rounds.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import re
import secrets
import shutil
import statistics
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from tools.bench import BenchError
from tools.bench.database import Database
from tools.bench.scenarios import Client
from tools.bench.servers import Server, service_server
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
# Every tenth item matches `travel`, every third is done.
SCALE_ITEMS_SQL = """
INSERT INTO items (name, description, done, bucket_id, created_at, modified_at)
SELECT 'Item ' || n || CASE WHEN n %% 10 = 0 THEN ' travel' ELSE '' END, NULL, n %% 3 = 0, %(bucket)s, t, t
FROM (SELECT n, timestamp '2020-01-01' + n * interval '1 second' AS t
      FROM generate_series(1, %(items)s) AS n) AS s;
"""
LIMIT = 20
REFERENCE = "small user: buckets page 1"
SEARCH = "travel"
# Connections of the cheap clients in the contention runs: a light load, and the main bench's.
CONTENTION_LIGHT = 4
# After wrk runs of slow requests: longer than wrk's timeout, so that nothing they queued is left.
SETTLE_SECONDS = 6


def counter_columns(cursor) -> set[tuple[str, str]]:
    cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND column_name IN ('item_count', 'bucket_count')"
    )
    return set(cursor.fetchall())


def link_path(body: dict, which: str) -> str:
    """The path and query of a `next`/`previous` link (links are absolute URLs)."""
    url = body.get(which)
    if not url:
        raise BenchError(f"the answer has no {which!r} link: {json.dumps(body)[:300]}")
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def get_json(client: Client, path: str) -> dict:
    status, raw = client.call("GET", path)
    if status != 200:
        raise BenchError(f"GET {path} answered {status}: {raw[:200]!r}")
    return json.loads(raw)


def timed_get(client: Client, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    body = get_json(client, path)
    return (time.perf_counter() - started) * 1000, body


def time_requests(
    client: Client,
    path: str,
    repeat: int,
    reference: tuple[Client, str],
    before: Callable[[], None] | None = None,
) -> dict:
    """Median of `repeat` single requests, each followed by one of the reference request.

    The ratio is taken against the reference requests timed in between, so that a load
    that comes and goes on the machine weighs on both alike. `before`, if given, runs
    (untimed) before each request.
    """
    for _ in range(3):
        if before:
            before()
        get_json(client, path)
    timings, references = [], []
    body: dict = {}
    for _ in range(repeat):
        if before:
            before()
        elapsed, body = timed_get(client, path)
        timings.append(elapsed)
        references.append(timed_get(*reference)[0])
    timings.sort()
    median, reference_median = statistics.median(timings), statistics.median(references)
    return {
        "median_ms": round(median, 2),
        "p90_ms": round(timings[int(0.9 * (len(timings) - 1))], 2),
        "reference_median_ms": round(reference_median, 2),
        "vs_small_page_1": round(median / reference_median, 2) if reference_median else None,
        "count": body.get("count"),
        "page": body.get("page"),
        "returned": len(body.get("buckets") or body.get("items") or []),
    }


@dataclass
class Case:
    """One request to time: a path of its own, or a link of an earlier case's answer."""

    label: str
    who: str
    path: str | None = None
    link_of: tuple[str, str] | None = None  # (label of the earlier case, "next" or "previous")
    # What the same user does before each request (untimed), one of measure_flat's `befores`:
    # "a write", "another search". Not run under wrk, where it would not hold.
    after: str | None = None


def list_cases(prefix: str, who: str, base: str, total: int) -> list[Case]:
    """Page 1 and the page after it, the middle and the last page by number and their neighbours."""
    last = max(1, -(-total // LIMIT))
    middle = max(1, last // 2)
    url = f"{base}{'&' if '?' in base else '?'}limit={LIMIT}"
    return [
        Case(f"{prefix}: page 1", who, f"{url}&page=1"),
        Case(f"{prefix}: page 2 by page 1's next", who, link_of=(f"{prefix}: page 1", "next")),
        Case(f"{prefix}: middle page {middle} by number", who, f"{url}&page={middle}"),
        Case(
            f"{prefix}: page {middle + 1} by the middle page's next",
            who,
            link_of=(f"{prefix}: middle page {middle} by number", "next"),
        ),
        Case(f"{prefix}: last page {last} by number", who, f"{url}&page={last}"),
        Case(
            f"{prefix}: page {last - 1} by the last page's previous",
            who,
            link_of=(f"{prefix}: last page {last} by number", "previous"),
        ),
    ]


def seed(db: Database, args: argparse.Namespace, ids: dict[str, int]) -> tuple[int, int]:
    """(the giant bucket, the small user's first bucket), with their items."""
    import psycopg2

    started = time.monotonic()
    conn = psycopg2.connect(db.url)
    with conn, conn.cursor() as cursor:
        with_counter = ("buckets", "item_count") in counter_columns(cursor)
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
        f"seeded {args.scale_buckets:,} buckets and {args.scale_items:,} items"
        f" in {time.monotonic() - started:.0f}s",
        flush=True,
    )
    return giant, small_bucket


class Pager(threading.Thread):
    """One client that pages through a bucket by `next` links (and searches it), until stopped.

    With `search`, it alternates a page of the whole list with a page of `q=travel`, each
    following the `next` link of its previous page (and starting over at page 1 at the end).
    """

    def __init__(self, port: int, token: str, items: str, search: bool) -> None:
        super().__init__(name="scale-pager", daemon=True)
        self.port, self.token = port, token
        self.starts = {"page": f"{items}?limit={LIMIT}"}
        if search:
            self.starts["search"] = f"{items}?q={SEARCH}&limit={LIMIT}"
        self.stop_event = threading.Event()
        self.timings: dict[str, list[float]] = {kind: [] for kind in self.starts}
        self.error: Exception | None = None

    def run(self) -> None:
        client = Client(self.port, self.token)
        following = dict(self.starts)
        try:
            while not self.stop_event.is_set():
                for kind, start in self.starts.items():
                    started = time.perf_counter()
                    body = get_json(client, following[kind])
                    self.timings[kind].append((time.perf_counter() - started) * 1000)
                    following[kind] = link_path(body, "next") if body.get("next") else start
        except (BenchError, OSError, HTTPException, ValueError) as exc:  # reported by stop()
            self.error = exc
        finally:
            client.close()

    def stop(self) -> dict:
        self.stop_event.set()
        self.join(timeout=60)
        if self.error is not None:
            raise BenchError(f"the paging client failed: {self.error}")
        return {
            kind: {
                "requests": len(values),
                "median_ms": round(statistics.median(values), 2) if values else None,
            }
            for kind, values in self.timings.items()
        }


def measure_flat(
    service: Server,
    settings: Settings,
    args: argparse.Namespace,
    tokens: dict,
    cases: list[Case],
    befores: dict[str, Callable[[Client], None]],
) -> dict:
    """Every case's single requests first, then (`settings.duration`) each case under wrk.

    In that order, no single request waits behind what a wrk run left queued on the server.
    """
    clients = {who: Client(service.port, token) for who, token in tokens.items()}
    results: dict[str, dict] = {}
    bodies: dict[str, dict] = {}
    reference = (clients[cases[0].who], cases[0].path)
    try:
        for case in cases:
            client = clients[case.who]
            if case.link_of:
                earlier, which = case.link_of
                path = link_path(bodies[earlier], which)
            else:
                path = case.path
            bodies[case.label] = get_json(client, path)
            before = functools.partial(befores[case.after], client) if case.after else None
            timing = time_requests(client, path, args.scale_repeat, reference, before)
            results[case.label] = {"path": path, **timing}
            print(
                f"  {case.label:<58} {timing['median_ms']:>8.2f} ms (p90 {timing['p90_ms']:>7.2f})"
                f" {timing['vs_small_page_1']:>6.1f}x",
                flush=True,
            )
    finally:
        for client in clients.values():
            client.close()
    if not settings.duration:
        return results
    print(f"each under wrk -c{settings.connections} for {settings.duration}s:", flush=True)
    for case in cases:
        if case.after:
            continue
        result = results[case.label]
        scenario = Scenario(
            re.sub(r"\W+", "_", case.label)[:48],
            case.label,
            [("GET", result["path"], None)],
            {"Authorization": f"Bearer {tokens[case.who]}"},
        )
        loaded = run_wrk(settings, service, scenario, settings.duration, "scale")
        result["under_load"] = loaded
        print(
            f"  {case.label:<58} {loaded['rps']:>7,.0f} req/s  p99 {loaded['p99_ms']:>8.1f} ms",
            flush=True,
        )
    # What the last runs left queued (a search's p99 is seconds) is served before going on.
    time.sleep(SETTLE_SECONDS)
    return results


# The contention runs: cheap requests alone, beside a client paging through the giant
# bucket, and beside one paging through it and searching it (the goal's case).
CONTENTION_RUNS = {"quiet": None, "paging": False, "paging_and_searching": True}


def measure_contention(
    service: Server,
    settings: Settings,
    tokens: dict,
    cheap: list[str],
    items: str,
    seconds: int,
    rounds: int,
) -> dict:
    """p99 of the cheap requests, quiet and while a client pages through (and searches) `items`.

    The three runs alternate, `rounds` times; each figure is the median over the rounds.
    """
    results = {}
    for connections in sorted({CONTENTION_LIGHT, settings.connections}):
        scenario = Scenario(
            f"cheap_c{connections}",
            "cheap requests",
            [("GET", path, None) for path in cheap],
            {"Authorization": f"Bearer {tokens['small']}"},
            connections=connections,
        )
        run_wrk(settings, service, scenario, 2, "contention-warmup")
        runs: dict[str, list[dict]] = {name: [] for name in CONTENTION_RUNS}
        pagers: dict[str, list[dict]] = {
            name: [] for name, search in CONTENTION_RUNS.items() if search is not None
        }
        for round_number in range(rounds):
            for name, search in CONTENTION_RUNS.items():
                tag = f"{name}-{round_number}"
                if search is None:
                    runs[name].append(run_wrk(settings, service, scenario, seconds, tag))
                    continue
                pager = Pager(service.port, tokens["big"], items, search)
                pager.start()
                try:
                    time.sleep(0.5)  # the pager is under way before wrk starts
                    runs[name].append(run_wrk(settings, service, scenario, seconds, tag))
                finally:
                    pagers[name].append(pager.stop())
        entry: dict = {"connections": connections, "seconds": seconds, "rounds": rounds}
        quiet_p99 = statistics.median(r["p99_ms"] for r in runs["quiet"])
        for name, values in runs.items():
            p99 = statistics.median(r["p99_ms"] for r in values)
            entry[name] = {
                "p99_ms": round(p99, 2),
                "p99_vs_quiet": round(p99 / quiet_p99, 2) if quiet_p99 else None,
                "p50_ms": round(statistics.median(r["p50_ms"] for r in values), 2),
                "rps": round(statistics.median(r["rps"] for r in values), 1),
                "rounds": values,
            }
            if name in pagers:
                entry[name]["pager"] = {
                    kind: {
                        "requests": sum(p[kind]["requests"] for p in pagers[name]),
                        "median_ms": statistics.median(
                            p[kind]["median_ms"] for p in pagers[name] if p[kind]["median_ms"] is not None
                        ),
                    }
                    for kind in pagers[name][0]
                }
        results[f"c{connections}"] = entry
        line = f"  -c{connections}: p99 quiet {quiet_p99:.2f} ms"
        for name in ("paging", "paging_and_searching"):
            pager = ", ".join(
                f"{figures['requests']} {kind} requests of {figures['median_ms']:.1f} ms"
                for kind, figures in entry[name]["pager"].items()
            )
            line += (
                f"; {name.replace('_', ' ')} {entry[name]['p99_ms']:.2f} ms"
                f" ({entry[name]['p99_vs_quiet']}x; the pager made {pager})"
            )
        print(line, flush=True)
    return results


def markdown(flat: dict, contention: dict) -> str:
    """The figures as the README's tables."""
    lines = ["| Request | ms | vs small user's page 1 (ms in between) |", "|---|---:|---:|"]
    for label, value in flat.items():
        lines.append(
            f"| {label} | {value['median_ms']:.2f} |"
            f" {value['vs_small_page_1']:.1f}x ({value['reference_median_ms']:.2f}) |"
        )
    names = {"quiet": "quiet", "paging": "paging", "paging_and_searching": "paging and searching"}
    runs = list(contention.values())
    lines += ["", "| Cheap requests' p99 | " + " | ".join(f"-c{run['connections']}" for run in runs) + " |"]
    lines.append("|---|" + "---:|" * len(runs))
    for name, title in names.items():
        cells = [f"{run[name]['p99_ms']:.1f} ms ({run[name]['p99_vs_quiet']:.2f}x)" for run in runs]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_scale(args: argparse.Namespace, stack: ExitStack) -> dict:
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

    tokens: dict[str, str] = {}
    for who in ("big", "small"):
        client = Client(service.port)
        body = client.json(
            "POST",
            "/v1/auth/register",
            {"email": f"{who}@bench.test", "password": "scale-password"},
            201,
        )
        client.close()
        tokens[who] = body["auth_token"]
    import psycopg2

    conn = psycopg2.connect(db.url)
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT email, id FROM users")
        ids = {email.split("@")[0]: uid for email, uid in cursor.fetchall()}
    conn.close()
    giant, small_bucket = seed(db, args, ids)
    client = Client(service.port, tokens["small"])
    small_item = get_json(client, f"/v1/bucketlists/{small_bucket}/items?limit=1")["items"][0]["id"]
    client.close()

    buckets, items = "/v1/bucketlists", f"/v1/bucketlists/{giant}/items"
    searches = args.scale_items // 10
    done = args.scale_items // 3
    cases = [
        Case(REFERENCE, "small", f"{buckets}?limit={LIMIT}&page=1"),
        Case(
            "small user: items page 1 (of 100)",
            "small",
            f"/v1/bucketlists/{small_bucket}/items?limit={LIMIT}",
        ),
        *list_cases(f"{args.scale_buckets:,} buckets", "big", buckets, args.scale_buckets),
        *list_cases(f"{args.scale_items:,} items", "big", items, args.scale_items),
        Case(f"{searches:,} matches: q={SEARCH} page 1", "big", f"{items}?q={SEARCH}&limit={LIMIT}"),
        Case(
            f"{searches:,} matches: q={SEARCH} page 1, right after a write to them",
            "big",
            f"{items}?q={SEARCH}&limit={LIMIT}",
            after="a write",
        ),
        Case(
            f"{searches:,} matches: q={SEARCH} page 1, right after another search",
            "big",
            f"{items}?q={SEARCH}&limit={LIMIT}",
            after="another search",
        ),
        Case(
            f"{searches:,} matches: q={SEARCH} page 2 by next",
            "big",
            link_of=(f"{searches:,} matches: q={SEARCH} page 1", "next"),
        ),
        Case(f"{done:,} done: done=true page 1", "big", f"{items}?done=true&limit={LIMIT}"),
        Case(
            f"{done:,} done: done=true page 2 by next",
            "big",
            link_of=(f"{done:,} done: done=true page 1", "next"),
        ),
    ]
    settings = Settings(
        wrk,
        workdir,
        args.scale_wrk_seconds,
        0,
        args.connections,
        args.threads,
        args.verbose,
        db,
    )
    print(
        f"single requests (median of {args.scale_repeat}, each followed by the small user's page 1,"
        " the ratio's reference):",
        flush=True,
    )

    client = Client(service.port, tokens["big"])
    written = get_json(client, f"{items}?limit=1")["items"][0]["id"]
    client.close()
    renames = itertools.cycle([f"{SEARCH.title()} once more", "Stay at home"])

    def write(client: Client) -> None:
        # One of the giant bucket's items renamed into and out of the search's matches, in turn:
        # a write of the user (their change count moves) that changes the searched count.
        client.json("PUT", f"{items}/{written}", {"name": next(renames)}, 200)

    def search_again(client: Client) -> None:
        # Another large search of the same list: what the user had remembered is now that one's.
        get_json(client, f"{items}?q={SEARCH[1:]}&limit={LIMIT}")

    befores = {"a write": write, "another search": search_again}
    flat = measure_flat(service, settings, args, tokens, cases, befores)
    cheap = [f"{buckets}?limit={LIMIT}", f"/v1/bucketlists/{small_bucket}/items/{small_item}"]
    print(
        f"contention: wrk on {' and '.join(cheap)} for {args.duration or 10}s,"
        " quiet and while one client pages through and searches the giant bucket:",
        flush=True,
    )
    contention = measure_contention(
        service, settings, tokens, cheap, items, args.duration or 10, args.rounds or 3
    )
    load_after = load_average()
    print(f"load average before {load_before}, after {load_after}")
    table = markdown(flat, contention)
    print(table)
    return {
        "scale": flat,
        "contention": contention,
        "markdown": table,
        "run": {"load_average_before": load_before, "load_average_after": load_after},
    }
