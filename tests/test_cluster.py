"""Several hosts: a rolling restart under load loses no request and no write.

`tools/cluster.py up` serves two instances (two ports standing for two hosts) on one
PostgreSQL database behind HAProxy; `tools/cluster.py rolling-restart` restarts each in
turn while client threads keep writing through HAProxy. Every request must get a 2xx
answer and every acknowledged write must be there afterwards. PostgreSQL only (the
instances share one database); it needs Debian's `haproxy` (`.ci/run` installs it).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_TOOL = ROOT / "tools" / "cluster.py"
DATABASE_URL = os.environ.get("DATABASE_URL_TEST")
WORKERS = 1  # per instance: two start 3-5 times slower on a loaded 2-core machine
CLIENTS = 8
MIN_REQUESTS = 2000
WARM_UP_REQUESTS = 200  # before the restart begins, so it happens under load
LOAD_LIMIT_SECONDS = 60.0  # after the restart, to reach MIN_REQUESTS on a slow machine
REQUEST_TIMEOUT = 30.0


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_tool", CLUSTER_TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


cluster_tool = load_tool()

pytestmark = [
    pytest.mark.skipif(
        not DATABASE_URL, reason="the cluster shares one PostgreSQL database: set DATABASE_URL_TEST"
    ),
    pytest.mark.skipif(
        cluster_tool.shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists(),
        reason="haproxy is missing (apt-get install -y haproxy)",
    ),
]


@dataclass
class Cluster:
    url: str
    run_dir: Path
    process: subprocess.Popen

    def state(self) -> dict:
        return cluster_tool.read_state(self.run_dir)

    def stats(self) -> dict[str, dict[str, str]]:
        balancer = cluster_tool.LoadBalancer(self.run_dir)
        return balancer.stats()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        SECRET_KEY=secrets.token_urlsafe(48),
        BUCKETLIST_BCRYPT_ROUNDS="4",  # about 1 ms a hash instead of 440 ms
    )
    command = [sys.executable, str(CLUSTER_TOOL), "--run-dir", str(tmp_path), "up", "--port", "0"]
    command += ["--workers", str(WORKERS)]
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / cluster_tool.STATE_FILE).exists():
            assert process.poll() is None, f"`cluster.py up` exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"`cluster.py up` did not start:\n{log_path.read_text()}"
            time.sleep(0.2)
        yield Cluster(cluster_tool.read_state(tmp_path)["url"], tmp_path, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise


@dataclass
class Client:
    """A user writing through the load balancer on one keep-alive connection, as fast as it can."""

    url: str
    number: int
    stop: threading.Event
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    items: dict[int, list[int]] = field(default_factory=dict)  # acknowledged: bucket id -> item ids
    token: str = ""

    def __post_init__(self) -> None:
        address = urlsplit(self.url)
        self.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=REQUEST_TIMEOUT)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, str] | None:
        """Status, JSON body and Location, or None after recording why there was no 2xx answer."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            self.connection.request(method, f"/v1{path}", None if body is None else json.dumps(body), headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()  # the next request opens a new connection
            self.requests += 1
            self.failures.append(f"{method} {path}: no answer: {error!r}")
            return None
        self.requests += 1
        if not 200 <= response.status < 300:
            self.failures.append(f"{method} {path}: {response.status} {data[:300]!r}")
            return None
        return response.status, json.loads(data), response.getheader("Location", "")

    def run(self) -> None:
        email = f"cluster-{self.number}-{secrets.token_hex(4)}@bucketmail.com"
        answer = self.call("POST", "/auth/register", {"email": email, "password": "rolling-restart"})
        if answer is None:
            return
        self.token = answer[1]["auth_token"]
        rng = random.Random(self.number)
        step = 0
        while not self.stop.is_set():
            step += 1
            if not self.items or step % 8 == 0:
                answer = self.call("POST", "/bucketlists", {"name": f"bucket {step}"})
                if answer:
                    self.items[int(answer[2].rsplit("/", 1)[1])] = []
            elif step % 4 == 1:
                self.call("GET", "/bucketlists?limit=5")
            else:
                bucket = rng.choice(list(self.items))
                answer = self.call("POST", f"/bucketlists/{bucket}/items", {"name": f"item {step}"})
                if answer:
                    self.items[bucket].append(int(answer[2].rsplit("/", 1)[1]))

    def read_all(self, path: str, key: str) -> set[int]:
        """Every id of a list, page after page (100 a page)."""
        ids: set[int] = set()
        page = 1
        while True:
            answer = self.call("GET", f"{path}?limit=100&page={page}")
            assert answer is not None, self.failures[-1]
            ids |= {entry["id"] for entry in answer[1][key]}
            if answer[1]["next"] is None:
                return ids
            page += 1


def served(stats: dict[str, dict[str, str]], name: str) -> int:
    return int(stats[name]["stot"])


def test_rolling_restart_under_load_loses_nothing(cluster: Cluster, capsys) -> None:
    before = cluster.state()
    stats_before = cluster.stats()
    stop = threading.Event()
    clients = [Client(cluster.url, number, stop) for number in range(CLIENTS)]
    threads = [threading.Thread(target=client.run) for client in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        while sum(c.requests for c in clients) < WARM_UP_REQUESTS and time.monotonic() - started < 30:
            time.sleep(0.05)
        requests_before_restart = sum(c.requests for c in clients)
        restart_started = time.monotonic()
        restart = subprocess.run(
            [sys.executable, str(CLUSTER_TOOL), "--run-dir", str(cluster.run_dir), "rolling-restart"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        restart_seconds = time.monotonic() - restart_started
        requests_during_restart = sum(c.requests for c in clients) - requests_before_restart
        deadline = time.monotonic() + LOAD_LIMIT_SECONDS
        while sum(c.requests for c in clients) < MIN_REQUESTS and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a little more load on the restarted instances
    finally:
        stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
    load_seconds = time.monotonic() - started
    after = cluster.state()
    stats_after = cluster.stats()

    requests = sum(c.requests for c in clients)
    failures = [failure for c in clients for failure in c.failures]
    writes = sum(len(c.items) + sum(len(items) for items in c.items.values()) for c in clients)
    per_instance = {name: served(stats_after, name) - served(stats_before, name) for name in ("app1", "app2")}
    retried = {key: int(stats_after["BACKEND"][key] or 0) for key in ("wretr", "wredis")}
    steps = [line for line in (cluster.run_dir / "up.log").read_text().splitlines() if "restarted:" in line]
    with capsys.disabled():
        print(
            f"\nrolling restart under load: {requests} requests ({writes} acknowledged writes) over"
            f" {load_seconds:.1f} s, {requests_during_restart} of them during the {restart_seconds:.1f} s"
            f" restart; {len(failures)} failed; served by {per_instance}; HAProxy retries {retried}",
            *steps,
            sep="\n",
        )

    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert restart.returncode == 0, (
        restart.stdout + restart.stderr + cluster_tool.tail(cluster.run_dir / "up.log")
    )
    for old, new in zip(before["instances"], after["instances"], strict=True):
        assert new["pid"] != old["pid"], f"{old['name']} was not restarted"
    assert failures == [], f"{len(failures)} of {requests} requests failed, first: {failures[:10]}"
    assert requests >= MIN_REQUESTS
    assert requests_during_restart >= 50, "the restart should have run under load"
    assert all(per_instance.values()), per_instance

    try:
        for client in clients:
            # A fresh connection: HAProxy closes one idle for 5 s, as the other clients read theirs.
            client.connection.close()
            assert client.read_all("/bucketlists", "buckets") == set(client.items)
            for bucket, items in client.items.items():
                assert client.read_all(f"/bucketlists/{bucket}/items", "items") == set(items)
    finally:
        for client in clients:
            client.connection.close()
