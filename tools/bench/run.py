"""The run: seed, serve, check that every server answers alike, then rounds per endpoint.

The machine is shared and noisy, so the figures that mean something are the ratios between
runs made back to back: each endpoint is measured in rounds that alternate service, Flask
and raw ASGI, and the median of the per-round ratios is reported.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from tools.bench import BenchError
from tools.bench.database import Database, seed, seeder_for
from tools.bench.profile import profile_service
from tools.bench.report import markdown, print_comparison, print_details, ratios
from tools.bench.scenarios import WITH_BASELINES, discover, login, same_answers, scenarios
from tools.bench.servers import make_servers, service_env
from tools.bench.wrk import Settings, find_wrk, load_average, measure, median_result

# Seeds: a user with this many buckets and items in all, shared unevenly among the buckets
# (tools/dummy.py), so that the longest bucket has a page deep enough to notice.
NORMAL = {"duration": 10, "warmup": 2, "rounds": 3, "buckets": 100, "items": 50_000}
QUICK = {"duration": 4, "warmup": 1, "rounds": 1, "buckets": 20, "items": 5_000}


def run_benchmark(args: argparse.Namespace, stack: ExitStack) -> dict:
    profile = QUICK if args.quick else NORMAL
    duration = args.duration or profile["duration"]
    warmup = profile["warmup"] if args.warmup is None else args.warmup
    rounds = args.rounds or profile["rounds"]
    buckets = args.buckets or profile["buckets"]
    items = args.items or profile["items"]
    wrk = find_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="bl_bench_"))
    stack.callback(lambda: shutil.rmtree(workdir, ignore_errors=True) if not args.keep else None)
    settings = Settings(wrk, workdir, duration, warmup, args.connections, args.threads, args.verbose)
    load_before = load_average()
    started = time.time()
    print(f"load average before: {load_before} ({os.cpu_count()} CPUs); work files in {workdir}", flush=True)

    if args.sqlite:
        db = Database(url=f"sqlite:///{workdir / 'bench.sqlite3'}")
    else:
        db = Database.create_postgres(args.pg_url)
        stack.callback(db.drop)
        print(f"database: {db.name}", flush=True)
    settings.database = db
    secret = secrets.token_urlsafe(48)
    email, password = "bench@bucketmail.com", "bench-password"
    seed(seeder_for(args), email, password, buckets, items, service_env(db.url, secret, args.source))

    servers = make_servers(db.url, secret, workdir, args.source, args.flask_workers, args.workers)
    for server in servers.values():
        stack.callback(server.stop)
        server.start_serving()
    service = servers["service"]
    token = login(service.port, email, password)
    data = discover(service.port, token)
    print(
        f"data: {data.bucket_count} buckets; bucket {data.items_bucket} holds {data.items_count} items;"
        f" q={data.q!r}; deep page {data.deep_page}",
        flush=True,
    )
    checks = same_answers({name: s.port for name, s in servers.items()}, token, data, db)
    wrong = []
    for endpoint, by_server in checks.items():
        for name, check in by_server.items():
            print(
                f"  {endpoint:<15} {name:<6} answers as the service: {check['same_json']} ({check['detail']})"
            )
            if not check["same_json"]:
                wrong.append(f"{name} on {endpoint}: {check['detail']}")
    if wrong:
        raise BenchError("a baseline does not answer as the service does:\n" + "\n".join(wrong))

    plan = scenarios(data, db, token, email, password)
    selected = [n for n in plan if not args.only or n in args.only]
    print(
        f"\nwrk -t{args.threads} -c{args.connections}, {duration}s per run after {warmup}s of warm-up,"
        f" {rounds} round(s) of {', '.join(servers)} per endpoint",
        flush=True,
    )
    endpoints: dict[str, dict] = {}
    for name in selected:
        scenario = plan[name]
        others = [s for s in servers if s != "service"] if name in WITH_BASELINES else []
        runs: dict[str, list[dict]] = {server: [] for server in ["service", *others]}
        db.settle()
        order = list(runs)
        for number in range(1, rounds + 1):
            print(f"{scenario.label}, round {number}/{rounds}", flush=True)
            # Each server goes first in turn: whatever the writes before leave the database
            # to do (a checkpoint, hint bits, autovacuum) does not fall on the same one.
            first = (number - 1) % len(order)
            for server in order[first:] + order[:first]:
                runs[server].append(measure(settings, servers[server], scenario, f"r{number}"))
        endpoints[name] = {
            "label": scenario.label,
            "service": median_result(runs["service"]),
            "baselines": {server: median_result(runs[server]) for server in others},
            "ratios": {server: ratios(runs["service"], runs[server]) for server in others},
        }
    profile_summary = None
    if args.profile:
        # The first endpoint asked for with --only, else the list endpoint.
        profiled = plan[args.only[0] if args.only else "list_buckets"]
        print(f"\nprofiling the service's {profiled.label} with py-spy", flush=True)
        profile_summary = profile_service(settings, service, profiled, Path(args.profile), duration)

    print_details(endpoints)
    print_comparison(endpoints)
    load_after = load_average()
    print(f"load average before {load_before}, after {load_after}; {os.cpu_count()} CPUs shared with wrk")
    report = {
        "endpoints": endpoints,
        "markdown": markdown(endpoints),
        "same_json": checks,
        "run": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "database": "sqlite" if args.sqlite else "postgresql",
            "workers": args.workers,
            "flask_workers": args.flask_workers,
            "connections": args.connections,
            "threads": args.threads,
            "duration_s": duration,
            "warmup_s": warmup,
            "rounds": rounds,
            "seed": {"buckets": buckets, "items": items, "largest_bucket": data.items_count},
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "quick": args.quick,
        },
    }
    if profile_summary:
        report["profile"] = profile_summary
    return report
