"""Throughput and latency of the service, against two baselines measured in the same run.

    python tools/bench.py [--quick] [--json PATH] [--sqlite] [--pg-url URL] [--profile DIR]
    python tools/bench.py --scale          # a 10,000-bucket user and a 1,000,000-item bucket

It creates a fresh PostgreSQL database (`bl_bench_*`), seeds it with tools/dummy.py, serves
it as production would (`bucketlist serve --workers 2`, SECRET_KEY set), logs in through the
API and drives every endpoint with wrk over 127.0.0.1. The list-buckets query is also
answered, with the same JSON from the same database, by two baselines in tools/bench/: a
hand-written Flask + psycopg2 app under gunicorn and a raw Starlette + asyncpg app under
uvicorn. The machine is shared and noisy, so the figures that mean something are the
ratios between runs made back to back: list buckets is measured in rounds that alternate
service, Flask and ASGI, and the median of the per-round ratios is reported. Each run also
reports the CPU the server processes and their PostgreSQL backends spent per request, and
how many CPUs everybody else used meanwhile: when others load the box, the threads of each
server get a share of it, so req/s ratios drift; the `*_by_cpu` ratios (baseline CPU per
request / the service's) are the steadier estimate of the same thing.

Everything it starts (servers, the database) is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import configparser
import http.client
import importlib.util
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "tools" / "bench"
DUMMY = ROOT / "tools" / "dummy.py"
BIN = Path(sys.executable).parent
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432"
HOST = "127.0.0.1"
WORKERS = 2
SERVICE_STARTUP_SECONDS = 60
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Seeds: a user with this many buckets and items in all, shared unevenly among the buckets
# (tools/dummy.py), so that the longest bucket has a page deep enough to notice.
NORMAL = {"duration": 15, "warmup": 3, "rounds": 3, "buckets": 100, "items": 50_000}
QUICK = {"duration": 4, "warmup": 1, "rounds": 1, "buckets": 20, "items": 5_000}
# bcrypt at production cost makes login a few requests a second: 32 connections would
# only queue behind it and time out. Fewer connections, a longer timeout.
LOGIN_CONNECTIONS = 4
LOGIN_TIMEOUT = "10s"
LOGIN_MIN_SECONDS = 10  # a few bcrypt rounds' worth even in --quick


class BenchError(Exception):
    """A step failed; the message is for the operator."""


# --------------------------------------------------------------------------- prerequisites


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    command = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "wrk"]
    print(
        "wrk is not installed; it is the Debian package `wrk`:  apt-get install -y wrk",
        flush=True,
    )
    if os.geteuid() != 0:
        raise BenchError("install wrk (apt-get install -y wrk) and run again")
    print("running as root, so installing it now: " + " ".join(command), flush=True)
    if subprocess.run(command, check=False).returncode != 0:
        print("retrying after apt-get update", flush=True)
        subprocess.run(["apt-get", "update"], check=False)
        subprocess.run(command, check=False)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("could not install wrk; install it with apt-get install -y wrk")
    return found


def bench_requirements() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    raw = parser.get("options.extras_require", "bench", fallback="")
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.strip().startswith("#")]


def ensure_python_packages(need_asgi: bool) -> None:
    modules = {"gunicorn": "gunicorn"} | ({"asyncpg": "asyncpg"} if need_asgi else {})
    missing = [name for name, module in modules.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return
    requirements = bench_requirements() or missing
    command = [sys.executable, "-m", "pip", "install", *requirements]
    print(
        f"missing {', '.join(missing)} (the `bench` extra: pip install -e '.[bench]')",
        flush=True,
    )
    if sys.prefix == sys.base_prefix:
        raise BenchError("not in a virtualenv; install with: pip install -e '.[bench]'")
    print("installing into this virtualenv: " + " ".join(command), flush=True)
    subprocess.run(command, check=True)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    port: int
    ready_path: str
    # Not the repository for the service: `python -m` puts its working directory first on the
    # path, which would shadow --source.
    cwd: Path = ROOT
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVICE_STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited at start; its log:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(self.base_url + self.ready_path, timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # it answers: a 401 is an answer
            except OSError:
                time.sleep(0.2)
        raise BenchError(
            f"{self.name} did not answer within {SERVICE_STARTUP_SECONDS}s; its log:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pids(self) -> list[int]:
        """The server process and all its descendants (the workers)."""
        if self.process is None:
            return []
        return descendants(self.process.pid)

    def worker_pids(self) -> list[int]:
        root = self.process.pid if self.process else None
        return [pid for pid in self.pids() if pid != root and _is_python(pid)]

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(pid) for pid in self.pids())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime: fields 14 and 15 of stat, counted after the command name here.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _is_python(pid: int) -> bool:
    try:
        return "python" in os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float:
    """CPU time spent by the whole machine (all CPUs), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


# --------------------------------------------------------------------------- database


@dataclass
class Database:
    url: str
    admin_url: str | None = None
    name: str | None = None
    _monitor: Any = None

    @classmethod
    def create_postgres(cls, server_url: str) -> Database:
        import psycopg2

        parts = urllib.parse.urlsplit(server_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise BenchError("the benchmark only talks to a PostgreSQL on this machine (127.0.0.1)")
        admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
        name = f"bl_bench_{os.getpid()}_{secrets.token_hex(3)}"
        try:
            conn = psycopg2.connect(admin_url, connect_timeout=5)
        except psycopg2.Error as exc:
            raise BenchError(f"cannot reach PostgreSQL at {server_url}: {str(exc).strip()}") from None
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return cls(
            url=urllib.parse.urlunsplit(parts._replace(path="/" + name)),
            admin_url=admin_url,
            name=name,
        )

    def drop(self) -> None:
        if not self.name:
            return
        import psycopg2

        if self._monitor is not None:
            self._monitor.close()
        conn = psycopg2.connect(self.admin_url, connect_timeout=5)
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        conn.close()

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:")

    def backend_cpu_seconds(self) -> float | None:
        """CPU used so far by the PostgreSQL backends serving this database (a local server).

        One monitoring connection is kept for the run: a shared server may be near its
        connection limit, and a figure we cannot read is not worth failing the run for.
        """
        if not self.name:
            return None
        import psycopg2

        try:
            if self._monitor is None or self._monitor.closed:
                self._monitor = psycopg2.connect(self.admin_url, connect_timeout=5)
                self._monitor.autocommit = True
            with self._monitor.cursor() as cursor:
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,))
                pids = [row[0] for row in cursor.fetchall()]
        except psycopg2.Error:
            return None
        return sum(_cpu_seconds(pid) for pid in pids)


def seeder_for(args: argparse.Namespace) -> Path:
    """The seeder that matches the served code: --source's own tools/dummy.py when it has one."""
    if args.seeder:
        return Path(args.seeder)
    if args.source and (Path(args.source) / "tools" / "dummy.py").exists():
        return Path(args.source) / "tools" / "dummy.py"
    return DUMMY


def seed(seeder: Path, email: str, password: str, buckets: int, items: int, env: dict) -> None:
    if not seeder.exists():
        raise BenchError(f"{seeder} (the seeder, issue 4) is not there")
    command = [
        sys.executable,
        str(seeder),
        "--email",
        email,
        "--password",
        password,
        "--buckets",
        str(buckets),
        "--items",
        str(items),
        "--seed",
        "1",
        "--reset",
    ]
    print(f"seeding: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    done = subprocess.run(
        command,
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise BenchError(f"tools/dummy.py failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    print(f"seeded in {time.monotonic() - started:.1f}s", flush=True)


# --------------------------------------------------------------------------- HTTP helpers


class Client:
    """Small keep-alive JSON client for setting up (and timing single requests)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        status, raw = self.call(method, path, body)
        if status != expect:
            raise BenchError(f"{method} {path} answered {status}, not {expect}: {raw[:300]!r}")
        return json.loads(raw)

    def close(self) -> None:
        self.conn.close()


def login(port: int, email: str, password: str) -> str:
    client = Client(port)
    try:
        return client.json("POST", "/v1/auth/login", {"email": email, "password": password})["auth_token"]
    finally:
        client.close()


@dataclass
class Dataset:
    """What the requests point at, discovered through the API."""

    bucket_ids: list[int]
    bucket_count: int
    items_bucket: int
    items_count: int
    item_ids: list[int]
    write_bucket: int
    q: str

    @property
    def deep_page(self) -> int:
        return max(1, -(-self.items_count // 20))


def discover(port: int, token: str) -> Dataset:
    client = Client(port, token)
    try:
        first = client.json("GET", "/v1/bucketlists?limit=100")
        bucket_ids = [b["id"] for b in first["buckets"]]
        if not bucket_ids:
            raise BenchError("the seeded user has no buckets")
        sizes = {
            bid: client.json("GET", f"/v1/bucketlists/{bid}/items?limit=1")["count"] for bid in bucket_ids
        }
        items_bucket = max(bucket_ids, key=lambda bid: (sizes[bid], -bid))
        if sizes[items_bucket] == 0:
            raise BenchError("the seeded buckets have no items")
        item_ids, names = [], []
        for page in range(1, 11):
            body = client.json("GET", f"/v1/bucketlists/{items_bucket}/items?limit=100&page={page}")
            item_ids += [i["id"] for i in body["items"]]
            names += [i["name"] for i in body["items"]]
            if body["next"] is None:
                break
        write_bucket = next((bid for bid in bucket_ids if bid != items_bucket), items_bucket)
        return Dataset(
            bucket_ids=bucket_ids,
            bucket_count=first["count"],
            items_bucket=items_bucket,
            items_count=sizes[items_bucket],
            item_ids=item_ids,
            write_bucket=write_bucket,
            q=common_word(names),
        )
    finally:
        client.close()


def common_word(names: list[str]) -> str:
    """A word that several item names share, so that `q` keeps a fair part of the bucket."""
    counts: dict[str, int] = {}
    for name in names:
        for word in set(re.findall(r"[a-z]{4,}", name.lower())):
            counts[word] = counts.get(word, 0) + 1
    if not counts:
        return "a"
    target = len(names) / 10  # about a tenth of the bucket: a realistic search
    return min(sorted(counts), key=lambda w: abs(counts[w] - target))


def same_json(service_port: int, other_port: int, token: str, path: str) -> tuple[bool, str]:
    bodies = []
    for port in (service_port, other_port):
        client = Client(port, token)
        try:
            status, raw = client.call("GET", path)
        finally:
            client.close()
        if status != 200:
            return False, f"port {port} answered {status}: {raw[:200]!r}"
        bodies.append(raw.decode().replace(f"{HOST}:{port}", "HOST"))
    if bodies[0] == bodies[1]:
        return True, "identical bytes"
    if json.loads(bodies[0]) == json.loads(bodies[1]):
        return True, "same JSON, different bytes"
    return False, f"service {bodies[0][:300]} ... baseline {bodies[1][:300]}"


# --------------------------------------------------------------------------- wrk


LUA_TEMPLATE = r"""-- Generated by tools/bench.py for one wrk run.
local requests_list = {}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  math.randomseed(1000 + thread_id)
  local headers = %(headers)s
  for _, r in ipairs(%(requests)s) do
    table.insert(requests_list, wrk.format(r[1], r[2], headers, r[3]))
  end
end

function request()
  return requests_list[math.random(#requests_list)]
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("non2xx") or 0) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "non2xx": %%d, "connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, ' ..
    '"timeouts": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, bad, e.connect, e.read, e.write, e.timeout))
end
"""


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lua_script(requests: list[tuple[str, str, str | None]], headers: dict[str, str]) -> str:
    header_table = "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()) + "}"
    rows = ", ".join(
        "{" + ", ".join([lua_string(m), lua_string(p), lua_string(b) if b is not None else "nil"]) + "}"
        for m, p, b in requests
    )
    return LUA_TEMPLATE % {"headers": header_table, "requests": "{" + rows + "}"}


@dataclass
class Scenario:
    name: str
    label: str
    requests: list[tuple[str, str, str | None]]
    headers: dict[str, str]
    connections: int | None = None
    timeout: str = "5s"
    min_seconds: int = 0


@dataclass
class Settings:
    wrk: str
    workdir: Path
    duration: int
    warmup: int
    connections: int
    threads: int
    verbose: bool = False
    database: Database | None = None


def run_wrk(settings: Settings, server: Server, scenario: Scenario, duration: int, tag: str) -> dict:
    script = settings.workdir / f"{scenario.name}.lua"
    script.write_text(lua_script(scenario.requests, scenario.headers))
    connections = scenario.connections or settings.connections
    threads = min(settings.threads, connections)
    command = [
        settings.wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        scenario.timeout,
        "-s",
        str(script),
        server.base_url + "/",
    ]
    cpu_before = server.cpu_seconds()
    db_before = settings.database.backend_cpu_seconds() if settings.database else None
    wrk_before = _children_cpu_seconds()
    busy_before = _machine_busy_seconds()
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=duration + 60)
    busy_used = _machine_busy_seconds() - busy_before
    wrk_used = _children_cpu_seconds() - wrk_before
    cpu_used = server.cpu_seconds() - cpu_before
    db_after = settings.database.backend_cpu_seconds() if settings.database else None
    db_used = db_after - db_before if db_after is not None and db_before is not None else None
    # Everyone else on the box: all busy CPU less the server, its database backends and wrk.
    others = max(0.0, busy_used - cpu_used - (db_used or 0.0) - wrk_used)
    log = settings.workdir / f"wrk-{server.name}-{scenario.name}-{tag}.txt"
    log.write_text(" ".join(command) + "\n\n" + done.stdout + done.stderr)
    if settings.verbose:
        print(done.stdout, flush=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(
            f"wrk failed on {scenario.name} ({server.name}):\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    raw = json.loads(line[len("BENCH_RESULT ") :])
    seconds = raw["duration_us"] / 1e6
    errors = {k: raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts") if raw[k]}
    return {
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "requests": raw["requests"],
        "non2xx": raw["non2xx"],
        "socket_errors": errors,
        "db_cpu_us_per_request": round(db_used * 1e6 / raw["requests"])
        if raw["requests"] and db_used is not None
        else None,
        "server_cpu_us_per_request": round(cpu_used * 1e6 / raw["requests"]) if raw["requests"] else None,
        "connections": connections,
        "seconds": round(seconds, 2),
        "other_processes_cpus": round(others / seconds, 2) if seconds else None,
    }


def measure(settings: Settings, server: Server, scenario: Scenario, tag: str = "1") -> dict:
    if settings.warmup:
        run_wrk(settings, server, scenario, settings.warmup, f"{tag}-warmup")
    result = run_wrk(settings, server, scenario, max(settings.duration, scenario.min_seconds), tag)
    print(
        f"  {server.name:<8} {scenario.label:<34} {result['rps']:>9,.0f} req/s"
        f"  p50 {result['p50_ms']:>7.2f} ms  p99 {result['p99_ms']:>8.2f} ms  non-2xx {result['non2xx']}"
        f"  (others used {result['other_processes_cpus']} CPUs)",
        flush=True,
    )
    return result


def median_result(rounds: list[dict]) -> dict:
    """The round with the median throughput (so that its latencies belong to it), plus all rounds."""
    chosen = dict(sorted(rounds, key=lambda r: r["rps"])[(len(rounds) - 1) // 2])
    chosen["rps"] = round(statistics.median(r["rps"] for r in rounds), 1)
    chosen["rounds_rps"] = [r["rps"] for r in rounds]
    for key in ("server_cpu_us_per_request", "db_cpu_us_per_request"):
        values = [r[key] for r in rounds if r.get(key) is not None]
        chosen[key] = round(statistics.median(values)) if values else None
    return chosen


# --------------------------------------------------------------------------- the run


def service_env(db: Database, secret: str, source: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=db.url, SECRET_KEY=secret, PYTHONUNBUFFERED="1")
    if source:
        # Another checkout's `bucketlist` package (say, `git archive` of an older commit)
        # comes first on the path, ahead of this virtualenv's editable install.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(source).resolve()), env.get("PYTHONPATH")])
        )
    return env


def flask_worker_options(worker_class: str) -> list[str]:
    """gunicorn's worker model for the Flask baseline.

    sync (gunicorn's default, as the 2017 service ran): one request per connection, so the
    kernel hands every request to whichever worker is free. gthread keeps connections
    alive, and which worker holds how many of wrk's 32 is decided once, at connect time:
    runs measured 20/12 or 10/22 splits, and req/s that jumped between about 1,000 and
    1,700 from one round to the next.
    """
    if worker_class == "sync":
        return ["--worker-class", "sync"]
    return ["--worker-class", "gthread", "--threads", "4"]


def make_servers(
    db: Database,
    secret: str,
    workdir: Path,
    source: str | None,
    flask_workers: str = "sync",
    workers: int = WORKERS,
) -> dict[str, Server]:
    env = service_env(db, secret)
    servers = {
        "service": service_server(db, secret, workdir, source, workers),
        "flask": Server(
            "flask",
            [
                str(BIN / "gunicorn"),
                "--workers",
                str(workers),
                *flask_worker_options(flask_workers),
                "--bind",
                f"{HOST}:{{port}}",
                "--chdir",
                str(BENCH_DIR),
                "--no-control-socket",
                "--log-level",
                "warning",
                "flask_baseline:app",
            ],
            env,
            workdir / "flask.log",
            0,
            "/v1/bucketlists",
        ),
    }
    if not db.is_sqlite:
        servers["asgi"] = Server(
            "asgi",
            [
                str(BIN / "uvicorn"),
                "--host",
                HOST,
                "--port",
                "{port}",
                "--workers",
                str(workers),
                "--no-access-log",
                "--log-level",
                "warning",
                "--app-dir",
                str(BENCH_DIR),
                "asgi_baseline:app",
            ],
            env,
            workdir / "asgi.log",
            0,
            "/v1/bucketlists",
        )
    for server in servers.values():
        server.port = free_port()
        server.command = [part.replace("{port}", str(server.port)) for part in server.command]
    return servers


def service_server(
    db: Database, secret: str, workdir: Path, source: str | None, workers: int = WORKERS
) -> Server:
    """The service as production runs it: `bucketlist serve`, several workers."""
    return Server(
        "service",
        [
            sys.executable,
            "-m",
            "bucketlist.cli",
            "serve",
            "--host",
            HOST,
            "--port",
            "{port}",
            "--workers",
            str(workers),
        ],
        service_env(db, secret, source),
        workdir / "service.log",
        0,
        "/v1/openapi.json",
        cwd=workdir,
    )


def scenarios(data: Dataset, token: str, email: str, password: str) -> dict[str, Scenario]:
    auth = {"Authorization": f"Bearer {token}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    items = f"/v1/bucketlists/{data.items_bucket}/items"
    q = urllib.parse.quote(data.q)
    sample = data.item_ids[:1000]
    return {
        "list_buckets": Scenario(
            "list_buckets",
            "list buckets (page 1, limit 20)",
            [("GET", "/v1/bucketlists?page=1&limit=20", None)],
            auth,
        ),
        "list_items_q": Scenario(
            "list_items_q",
            f"list items, q={data.q}",
            [("GET", f"{items}?q={q}&limit=20", None)],
            auth,
        ),
        "get_item": Scenario(
            "get_item",
            "get one item",
            [("GET", f"{items}/{i}", None) for i in sample],
            auth,
        ),
        "deep_page": Scenario(
            "deep_page",
            f"list items, page {data.deep_page} (last)",
            [("GET", f"{items}?page={data.deep_page}&limit=20", None)],
            auth,
        ),
        "create_item": Scenario(
            "create_item",
            "create item",
            [
                (
                    "POST",
                    f"/v1/bucketlists/{data.write_bucket}/items",
                    json.dumps(
                        {
                            "name": f"Benchmark item {n}",
                            "description": "Written by tools/bench.py",
                        }
                    ),
                )
                for n in range(20)
            ],
            json_auth,
        ),
        "update_item": Scenario(
            "update_item",
            "update item (PUT, random of ~1000)",
            [("PUT", f"{items}/{i}", json.dumps({"done": n % 2 == 0})) for n, i in enumerate(sample)],
            json_auth,
        ),
        "login": Scenario(
            "login",
            f"login (bcrypt, {LOGIN_CONNECTIONS} connections)",
            [
                (
                    "POST",
                    "/v1/auth/login",
                    json.dumps({"email": email, "password": password}),
                )
            ],
            {"Content-Type": "application/json"},
            connections=LOGIN_CONNECTIONS,
            timeout=LOGIN_TIMEOUT,
            min_seconds=LOGIN_MIN_SECONDS,
        ),
    }


def profile_service(
    settings: Settings, service: Server, scenario: Scenario, out_dir: Path, seconds: int
) -> dict:
    """py-spy on every service worker while wrk drives `scenario`; returns the top frames."""
    py_spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(py_spy).exists():
        raise BenchError("py-spy is not installed (pip install py-spy)")
    out_dir.mkdir(parents=True, exist_ok=True)
    recorders = []
    for pid in service.worker_pids():
        path = out_dir / f"service-worker-{pid}.txt"
        recorders.append(
            (
                path,
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(seconds + 1),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--output",
                        str(path),
                        "--nonblocking",
                        "--gil",
                        "--threads",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                ),
            )
        )
    time.sleep(1)
    result = run_wrk(settings, service, scenario, seconds, "profile")
    for _path, recorder in recorders:
        recorder.wait(timeout=seconds + 60)
    stacks = [p for p, _ in recorders if p.exists()]
    summary = summarise_profile(stacks)
    summary["wrk_under_profiler"] = result
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"profile: {', '.join(str(p) for p in stacks)} (collapsed stacks; speedscope.app opens them)")
    return summary


FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def summarise_profile(paths: list[Path], top: int = 40) -> dict:
    """Shares of py-spy samples per function (self and inclusive) and per package (self).

    With --gil only the thread holding the GIL is sampled, so the shares are of the
    Python CPU time, not of time spent waiting on the database or the network.
    """
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame_name(f) for f in stack.split(";") if not f.startswith(("thread (", "process "))]
            if not frames:
                continue
            total += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            package = _package(frames[-1])
            packages[package] = packages.get(package, 0) + count
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + count
    if not total:
        return {"samples": 0}

    def share(table: dict[str, int], limit: int) -> list[list]:
        best = sorted(table.items(), key=lambda kv: -kv[1])[:limit]
        return [[name, round(100 * count / total, 1)] for name, count in best]

    return {
        "samples": total,
        "self_percent_by_package": share(packages, 30),
        "self_percent": share(own, top),
        "inclusive_percent": share(inclusive, top * 3),
    }


def _frame_name(frame: str) -> str:
    """`func (file.py:123)` without its line, so one function counts once."""
    match = FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def _package(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return "?"
    file = match["file"]
    if file == "<string>":
        return "pony (generated wrappers)"  # Pony's decorators compile their wrappers from source
    head = file.split("/", 1)[0]
    return head.removesuffix(".py") if "/" not in file else head


def print_table(endpoints: dict, baselines: dict, ratios: dict) -> None:
    header = (
        f"{'endpoint':<44}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>8}"
        f"{'app CPU µs/req':>16}{'DB CPU µs/req':>15}{'others CPUs':>13}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    rows = [*endpoints.values(), *baselines.values()]
    for r in rows:
        app_cpu = r.get("server_cpu_us_per_request")
        db_cpu = r.get("db_cpu_us_per_request")
        print(
            f"{r['label']:<44}{r['rps']:>8,.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{r['non2xx']:>8}{_or_dash(app_cpu):>16}{_or_dash(db_cpu):>15}"
            f"{_or_dash(r.get('other_processes_cpus')):>13}"
        )
    print()
    for name, value in ratios.items():
        print(f"{name}: {_or_dash(value)}")


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


def run_benchmark(args: argparse.Namespace, stack: ExitStack) -> dict:
    profile = QUICK if args.quick else NORMAL
    duration = args.duration or profile["duration"]
    warmup = profile["warmup"] if args.warmup is None else args.warmup
    rounds = args.rounds or profile["rounds"]
    buckets = args.buckets or profile["buckets"]
    items = args.items or profile["items"]
    wrk = ensure_wrk()
    ensure_python_packages(need_asgi=not args.sqlite)
    workdir = Path(tempfile.mkdtemp(prefix="bl_bench_"))
    stack.callback(lambda: shutil.rmtree(workdir, ignore_errors=True) if not args.keep else None)
    settings = Settings(wrk, workdir, duration, warmup, args.connections, args.threads, args.verbose)
    load_before = load_average()
    started = time.time()
    print(
        f"load average before: {load_before} ({os.cpu_count()} CPUs); work files in {workdir}",
        flush=True,
    )

    if args.sqlite:
        db = Database(url=f"sqlite:///{workdir / 'bench.sqlite3'}")
    else:
        db = Database.create_postgres(args.pg_url)
        stack.callback(db.drop)
        print(f"database: {db.name}", flush=True)
    settings.database = db
    secret = secrets.token_urlsafe(48)
    email, password = "bench@bucketmail.com", "bench-password"
    seed(
        seeder_for(args),
        email,
        password,
        buckets,
        items,
        service_env(db, secret, args.source),
    )

    servers = make_servers(db, secret, workdir, args.source, args.flask_workers, args.workers)
    for server in servers.values():
        stack.callback(server.stop)
        server.start()
    service = servers["service"]
    token = login(service.port, email, password)
    data = discover(service.port, token)
    print(
        f"data: {data.bucket_count} buckets; bucket {data.items_bucket} holds {data.items_count} items;"
        f" q={data.q!r}; deep page {data.deep_page}",
        flush=True,
    )
    checks = {}
    for name in ("flask", "asgi"):
        if name in servers:
            ok, detail = same_json(
                service.port,
                servers[name].port,
                token,
                "/v1/bucketlists?page=1&limit=20",
            )
            checks[name] = {"same_json": ok, "detail": detail}
            print(
                f"{name} baseline answers list buckets with the service's JSON: {ok} ({detail})",
                flush=True,
            )
            if not ok:
                raise BenchError(f"the {name} baseline does not answer with the same JSON: {detail}")

    plan = scenarios(data, token, email, password)
    selected = [n for n in plan if not args.only or n in args.only]
    endpoints: dict[str, dict] = {}
    baseline_rounds: dict[str, list[dict]] = {name: [] for name in servers if name != "service"}
    per_round: dict[str, list[float]] = {name: [] for name in baseline_rounds}

    print(
        f"\nwrk -t{args.threads} -c{args.connections}, {duration}s per run after {warmup}s of warm-up",
        flush=True,
    )
    if "list_buckets" in selected:
        service_rounds = []
        for number in range(1, rounds + 1):
            print(f"list buckets, round {number}/{rounds}", flush=True)
            mine = measure(settings, service, plan["list_buckets"], f"r{number}")
            service_rounds.append(mine)
            for name, results in baseline_rounds.items():
                theirs = measure(settings, servers[name], plan["list_buckets"], f"r{number}")
                results.append(theirs)
                per_round[name].append(mine["rps"] / theirs["rps"] if theirs["rps"] else 0.0)
        endpoints["list_buckets"] = {
            "label": plan["list_buckets"].label,
            **median_result(service_rounds),
        }
    profile_summary = None
    if args.profile:
        print("\nprofiling the service's list endpoint with py-spy", flush=True)
        profile_summary = profile_service(
            settings, service, plan["list_buckets"], Path(args.profile), duration
        )
    # The baselines only answer list buckets: their idle connections need not sit on a
    # shared server's connection limit while the other endpoints run.
    for name in baseline_rounds:
        servers[name].stop()
    for name in selected:
        if name == "list_buckets":
            continue
        endpoints[name] = {
            "label": plan[name].label,
            **measure(settings, service, plan[name]),
        }

    labels = {
        "flask": f"baseline: Flask+{'sqlite3' if args.sqlite else 'psycopg2'}, gunicorn {args.flask_workers}",
        "asgi": "baseline: Starlette+asyncpg, uvicorn",
    }
    baselines = {
        name: {"label": labels[name], **median_result(results)}
        for name, results in baseline_rounds.items()
        if results
    }
    ratios = {
        "list_buckets_vs_flask_baseline": round(statistics.median(per_round["flask"]), 3)
        if per_round.get("flask")
        else None,
        "list_buckets_vs_raw_asgi": round(statistics.median(per_round["asgi"]), 3)
        if per_round.get("asgi")
        else None,
    }
    # Less sensitive to other people's load than req/s: what one request costs the server
    # processes, as a throughput ratio (baseline CPU per request / the service's).
    service_cpu = endpoints.get("list_buckets", {}).get("server_cpu_us_per_request")
    for name, key in (("flask", "flask_baseline"), ("asgi", "raw_asgi")):
        theirs = baselines.get(name, {}).get("server_cpu_us_per_request")
        ratios[f"list_buckets_vs_{key}_by_cpu"] = (
            round(theirs / service_cpu, 3) if service_cpu and theirs else None
        )

    print_table(endpoints, baselines, ratios)
    load_after = load_average()
    print(f"load average before {load_before}, after {load_after}; {os.cpu_count()} CPUs shared with wrk")
    report = {
        "endpoints": endpoints,
        "baselines": {{"flask": "flask_gunicorn", "asgi": "raw_asgi"}[k]: v for k, v in baselines.items()},
        "ratios": ratios,
        "per_round_ratios": {k: [round(x, 3) for x in v] for k, v in per_round.items()},
        "same_json": checks,
        "run": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "database": "sqlite" if args.sqlite else "postgresql",
            "workers": args.workers,
            "connections": args.connections,
            "threads": args.threads,
            "duration_s": duration,
            "warmup_s": warmup,
            "rounds": rounds,
            "seed": {
                "buckets": buckets,
                "items": items,
                "largest_bucket": data.items_count,
            },
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "quick": args.quick,
        },
    }
    if profile_summary:
        report["profile"] = profile_summary
    return report


# --------------------------------------------------------------------------- scale (issue 5, item 3)


# EXTRA_COLUMNS / EXTRA_VALUES: a counter column (zeroed here, recounted after) when the
# served version keeps one; Pony's defaults live in Python, not in the table.
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


def refresh_counters(cursor, columns: set[tuple[str, str]]) -> None:
    """A service version that keeps list counts on the parent rows needs them right after bulk SQL."""
    if ("buckets", "item_count") in columns:
        cursor.execute(
            "UPDATE buckets SET item_count = counted.n FROM"
            " (SELECT bucket_id, COUNT(*) AS n FROM items GROUP BY bucket_id) AS counted"
            " WHERE buckets.id = counted.bucket_id"
        )
    if ("users", "bucket_count") in columns:
        cursor.execute(
            "UPDATE users SET bucket_count = counted.n FROM"
            " (SELECT owner_id, COUNT(*) AS n FROM buckets GROUP BY owner_id) AS counted"
            " WHERE users.id = counted.owner_id"
        )


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

    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="bl_bench_scale_"))
    stack.callback(lambda: shutil.rmtree(workdir, ignore_errors=True) if not args.keep else None)
    load_before = load_average()
    print(f"load average before: {load_before}", flush=True)
    db = Database.create_postgres(args.pg_url)
    stack.callback(db.drop)
    secret = secrets.token_urlsafe(48)
    service = service_server(db, secret, workdir, args.source, args.workers)
    service.port = free_port()
    service.command = [p.replace("{port}", str(service.port)) for p in service.command]
    stack.callback(service.stop)
    service.start()

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
        refresh_counters(cursor, counters)
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


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
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
    parser.add_argument("--duration", type=int, help="seconds per measured run (default 15, quick 4)")
    parser.add_argument(
        "--warmup",
        type=int,
        help="seconds of warm-up before each run (default 3, quick 1)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="alternating service/baseline rounds for list buckets (3, quick 1)",
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
        help="run only these: list_buckets list_items_q get_item deep_page create_item update_item login",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="also record the list endpoint with py-spy into DIR",
    )
    parser.add_argument("--scale", action="store_true", help="measure deep pages of a big user instead")
    parser.add_argument("--scale-buckets", type=int, default=10_000)
    parser.add_argument("--scale-items", type=int, default=1_000_000)
    parser.add_argument(
        "--scale-repeat",
        type=int,
        default=30,
        help="timed single requests per scale case",
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
    if args.scale and args.sqlite:
        parser.error("--scale needs PostgreSQL")
    return args


def _terminate(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        with ExitStack() as stack:
            report = run_scale(args, stack) if args.scale else run_benchmark(args, stack)
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


if __name__ == "__main__":
    sys.exit(main())
