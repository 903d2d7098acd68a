"""Throughput and latency of the service, against two baselines measured in the same run.

    python -m tools.bench [--quick] [--json PATH] [--sqlite] [--pg-url URL] [--profile DIR]
    python -m tools.bench --scale          # a 100,000-bucket user and a 1,000,000-item bucket
    python -m tools.bench --triggers       # what the search-count triggers cost a write
    make bench ARGS="--quick"              # the same, after installing the `bench` extra and wrk

It creates a fresh PostgreSQL database (`bl_bench_*`), seeds it with tools/dummy.py, serves
it as production would (`bucketlist serve --workers 2`, SECRET_KEY set), logs in through the
API and drives every hot endpoint with wrk over 127.0.0.1. The same endpoints are answered,
with the same JSON from the same database, by two baselines in tools/bench/baselines/: a
hand-written Flask + psycopg2 app under gunicorn that sends the service's statements, and a
raw Starlette + asyncpg app under uvicorn with the best SQL we know (the limit). Each
endpoint is measured in rounds alternating service, Flask and ASGI, each server first in
turn, after a VACUUM ANALYZE (so that what the seeding's or the last endpoint's writes leave
the database to do falls on no server in particular); the report gives, per endpoint, the
medians of the per-round req/s and p99 ratios. Each run also reports the CPU
the server processes and their PostgreSQL backends spent per request, and how many CPUs
everybody else used meanwhile: when others load the box, the `by_cpu` ratios (baseline CPU
per request / the service's) are the steadier estimate.

Everything it starts (servers, the database) is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

from tools.bench import BenchError
from tools.bench.database import DEFAULT_PG_URL
from tools.bench.run import run_benchmark
from tools.bench.scale import run_scale
from tools.bench.scenarios import ALL
from tools.bench.servers import WORKERS
from tools.bench.triggers import run_triggers


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs on a small seed (a few minutes)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help=f"PostgreSQL server (default {DEFAULT_PG_URL})",
    )
    parser.add_argument(
        "--sqlite",
        action="store_true",
        help="serve from SQLite (the ASGI baseline is skipped)",
    )
    parser.add_argument("--connections", "-c", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", "-t", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--duration",
        type=int,
        help="seconds per measured run (default 10, quick 4; --scale: each quiet and loaded run, 10)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help="seconds of warm-up before each run (default 2, quick 1)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds alternating service, Flask and ASGI, per endpoint (default 3, quick 1;"
        " --scale: quiet and loaded rounds, 3)",
    )
    parser.add_argument("--buckets", type=int, help="buckets to seed (default 100, quick 20)")
    parser.add_argument(
        "--items",
        type=int,
        help="items to seed, spread over the buckets (default 50000, quick 5000)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="ENDPOINT",
        choices=ALL,
        help="run only these: " + " ".join(ALL),
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="also record the service with py-spy into DIR, on the first --only endpoint (else list buckets)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="measure big lists' pages and the p99 of cheap requests beside them instead",
    )
    parser.add_argument("--scale-buckets", type=int, default=100_000)
    parser.add_argument("--scale-items", type=int, default=1_000_000)
    parser.add_argument(
        "--scale-repeat",
        type=int,
        default=30,
        help="timed single requests per scale case",
    )
    parser.add_argument(
        "--scale-wrk-seconds",
        type=int,
        default=3,
        help="seconds of wrk per scale case (0: single requests only)",
    )
    parser.add_argument(
        "--triggers",
        action="store_true",
        help="measure what the search-count triggers cost each write, in the database, instead",
    )
    parser.add_argument(
        "--trigger-bulk",
        type=int,
        default=200_000,
        help="rows of the --triggers run's one bulk INSERT",
    )
    parser.add_argument(
        "--source",
        metavar="DIR",
        help="serve the bucketlist package of another checkout (seeding with its tools/dummy.py)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"processes of the service and of each baseline (default {WORKERS})",
    )
    parser.add_argument(
        "--flask-workers",
        choices=["sync", "gthread"],
        default="sync",
        help="gunicorn worker class of the Flask baseline (default sync)",
    )
    parser.add_argument("--seeder", help=argparse.SUPPRESS)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (logs, Lua scripts)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="print wrk's own output")
    args = parser.parse_args(argv)
    if (args.scale or args.triggers) and args.sqlite:
        parser.error("--scale and --triggers need PostgreSQL")
    if args.scale and args.triggers:
        parser.error("--scale or --triggers: one at a time")
    return args


def _terminate(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        with ExitStack() as stack:
            if args.scale:
                report = run_scale(args, stack)
            elif args.triggers:
                report = run_triggers(args, stack)
            else:
                report = run_benchmark(args, stack)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped and databases dropped", file=sys.stderr)
        return 130
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 0
