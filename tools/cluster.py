"""Two `bucketlist serve` instances behind HAProxy on one database, and a rolling restart.

    tools/cluster.py up [--port 8000] [--workers 1]   # foreground; Ctrl-C stops everything
    tools/cluster.py rolling-restart                  # from another terminal
    tools/cluster.py status

`up` starts two instances on free loopback ports (standing for two hosts), one after the
other, then HAProxy with deploy/haproxy.cfg in front of them, and writes what it started
to `<run-dir>/cluster.json`; logs go beside it (app1.log, app2.log, haproxy.log). The
instances read the environment as `bucketlist serve` does: DATABASE_URL, SECRET_KEY (the
same for both, so a token from one is good on the other) and the rest.

`rolling-restart` asks the running `up` (SIGHUP) to restart every instance in turn, the
way it is done without dropping a request: set the server to `drain` through HAProxy's
admin socket, wait until it has no session left, SIGTERM it and wait for it to exit,
start it again, wait until it answers /readyz, set it `ready`, wait until HAProxy's own
check sees it up, then the next one. It exits 0 when every instance came back.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from live_server import HOST, free_port  # noqa: E402 - tests/ is not a package, so put on the path above

CONFIG = ROOT / "deploy" / "haproxy.cfg"
BACKEND = "bucketlist"  # the backend's name in deploy/haproxy.cfg
SERVERS = ("app1", "app2")  # its servers, each addressed by BUCKETLIST_APP1, BUCKETLIST_APP2
READY_PATH = "/readyz"
STATE_FILE = "cluster.json"

START_TIMEOUT = 60.0  # a start here took 3-5 s with one worker, 8-15 s with two (load average 10-14)
DRAIN_TIMEOUT = 35.0  # the longest request a draining server may still be answering
STOP_TIMEOUT = 35.0  # above BUCKETLIST_SHUTDOWN_TIMEOUT's default of 30 s
UP_TIMEOUT = 20.0  # HAProxy's check: rise 2 at fastinter 250 ms, inter 1 s
RESTART_TIMEOUT = 2 * (DRAIN_TIMEOUT + STOP_TIMEOUT + START_TIMEOUT + UP_TIMEOUT)
PORT_ATTEMPTS = 3


class ClusterError(RuntimeError):
    """Something did not come up or go down in time; the message says what and where to look."""


def say(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def answers(url: str) -> int | None:
    """The status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ClusterError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


class LoadBalancer:
    """HAProxy, driven through its admin socket (the "runtime API")."""

    def __init__(self, run_dir: Path) -> None:
        self.socket_path = run_dir.resolve() / "haproxy.sock"  # HAProxy reads a relative one as host:port
        self.log_path = run_dir / "haproxy.log"
        self.process: subprocess.Popen | None = None

    def start(self, config: Path, port: int, servers: dict[str, int]) -> None:
        self.socket_path.unlink(missing_ok=True)  # left by a HAProxy that was killed
        env = dict(os.environ)
        env["BUCKETLIST_LB_BIND"] = f"{HOST}:{port}"
        env["BUCKETLIST_LB_SOCKET"] = str(self.socket_path)
        env["BUCKETLIST_LB_LOG"] = "stdout"
        env["BUCKETLIST_LB_LOG_FORMAT"] = "raw"
        for name, server_port in servers.items():
            env[f"BUCKETLIST_{name.upper()}"] = f"{HOST}:{server_port}"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(config)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches `up`, which stops it in order
            )
        deadline = time.monotonic() + 10
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"HAProxy did not start:\n{tail(self.log_path)}")
            time.sleep(0.1)

    def answers(self) -> bool:
        try:
            return bool(self.command("show info"))
        except ClusterError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.socket_path.unlink(missing_ok=True)

    def command(self, line: str) -> str:
        """One command, its answer (the socket is in non-interactive mode: one per connection)."""
        chunks = []
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode() + b"\n")
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as error:
            raise ClusterError(f"HAProxy's admin socket {self.socket_path}: {error}") from None
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """`show stat` for the backend's servers (and the backend itself, as "BACKEND")."""
        rows = csv.DictReader(self.command("show stat").lstrip("# ").splitlines())
        return {row["svname"]: row for row in rows if row["pxname"] == BACKEND}

    def set_state(self, server: str, state: str) -> None:
        answer = self.command(f"set server {BACKEND}/{server} state {state}")
        if answer.strip():  # silence is success
            raise ClusterError(f"HAProxy refused to set {server} {state}: {answer.strip()}")

    def set_address(self, server: str, port: int) -> None:
        answer = self.command(f"set server {BACKEND}/{server} addr {HOST} port {port}")
        if "changed" not in answer and "no need to change" not in answer:
            raise ClusterError(f"HAProxy refused the new port of {server}: {answer.strip()}")

    def wait_idle(self, server: str) -> None:
        def idle() -> bool:
            row = self.stats()[server]
            return row["scur"] == "0" and row["qcur"] in ("0", "")

        wait_for(idle, DRAIN_TIMEOUT, f"{server} still has sessions after draining", interval=0.05)

    def wait_up(self, server: str) -> None:
        wait_for(lambda: self.stats()[server]["status"] == "UP", UP_TIMEOUT, f"HAProxy sees {server} up")


@dataclass
class Instance:
    """One `bucketlist serve` process group on a loopback port: a host, as HAProxy sees it."""

    name: str
    port: int
    workers: int
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, ready_path: str) -> None:
        """Start and wait until `ready_path` answers 200; a taken port is replaced by a free one."""
        for _attempt in range(PORT_ATTEMPTS):
            command = [sys.executable, "-m", "bucketlist.cli", "serve", "--host", HOST]
            command += ["--port", str(self.port), "--workers", str(self.workers)]
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: uvicorn's workers stop with it
                )
            deadline = time.monotonic() + START_TIMEOUT
            while self.process.poll() is None and time.monotonic() < deadline:
                if answers(self.origin + ready_path) == 200:
                    return
                time.sleep(0.1)
            if self.process.poll() is None:
                self.stop()
                raise ClusterError(
                    f"{self.name} did not get ready within {START_TIMEOUT:.0f} s:\n{tail(self.log_path)}"
                )
            if "address already in use" not in tail(self.log_path, 5).lower():
                raise ClusterError(
                    f"{self.name} exited with code {self.process.returncode}:\n{tail(self.log_path)}"
                )
            self.port = free_port()
        raise ClusterError(f"{self.name}: no free port after {PORT_ATTEMPTS} attempts")

    def stop(self) -> int | None:
        """SIGTERM the process group and wait for it to exit: its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                say(f"{self.name} did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM: SIGKILL")
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def exit_status(code: int | None) -> str:
    return f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit {code}"


def haproxy_binary() -> str:
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if binary is None:
        raise ClusterError("haproxy is not installed (Debian: apt-get install -y haproxy)")
    return binary


class Cluster:
    def __init__(self, run_dir: Path, port: int, workers: int) -> None:
        self.run_dir = run_dir
        self.port = port
        self.lb = LoadBalancer(run_dir)
        self.instances = [Instance(name, free_port(), workers, run_dir / f"{name}.log") for name in SERVERS]
        self.ready_path = READY_PATH
        self.restarts = {"requested": 0, "completed": 0, "ok": True, "message": ""}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        # One after the other: the first one creates the schema, and two creating it at
        # once race on PostgreSQL.
        first = self.instances[0]
        first.start("/v1/openapi.json")  # TODO(merge): self.ready_path once /readyz is merged
        config = self.choose_ready_path(first)
        for instance in self.instances[1:]:
            instance.start(self.ready_path)
        for instance in self.instances:
            say(f"{instance.name}: pid {instance.pid} on {instance.origin}")
        if self.port == 0:
            self.port = free_port()
        self.lb.start(config, self.port, {i.name: i.port for i in self.instances})
        for instance in self.instances:
            self.lb.wait_up(instance.name)
        say(f"HAProxy: pid {self.lb.process.pid} on {self.url}, checking {self.ready_path}")
        self.write_state()

    def choose_ready_path(self, instance: Instance) -> Path:
        # TODO(merge): /readyz arrives with the health-check branch. Until then HAProxy checks
        # the spec's URL instead; once /readyz is merged this function can go, and `start`
        # uses CONFIG and READY_PATH as they are.
        if answers(instance.origin + READY_PATH) != 404:
            return CONFIG
        self.ready_path = "/v1/openapi.json"
        say(f"this build has no {READY_PATH}: HAProxy checks {self.ready_path} instead")
        config = self.run_dir / "haproxy.cfg"
        config.write_text(CONFIG.read_text().replace(f"uri {READY_PATH} ", f"uri {self.ready_path} "))
        return config

    def stop(self) -> None:
        self.lb.stop()
        for instance in self.instances:
            instance.stop()

    def rolling_restart(self) -> None:
        for instance in self.instances:
            statuses = {name: row["status"] for name, row in self.lb.stats().items() if name in SERVERS}
            if any(status != "UP" for status in statuses.values()):
                raise ClusterError(
                    f"not every server is up, so restarting one would leave too few: {statuses}"
                )
            old_pid = instance.pid
            times = [time.monotonic()]
            self.lb.set_state(instance.name, "drain")
            try:
                self.lb.wait_idle(instance.name)
                times.append(time.monotonic())
                code = instance.stop()
                times.append(time.monotonic())
                old_port = instance.port
                instance.start(self.ready_path)
                times.append(time.monotonic())
                if instance.port != old_port:
                    self.lb.set_address(instance.name, instance.port)
            finally:
                # Also after a failure: an instance that is not back fails the check and stays out.
                self.lb.set_state(instance.name, "ready")
            self.lb.wait_up(instance.name)
            times.append(time.monotonic())
            self.write_state()
            drained, stopped, started, up = (
                later - earlier for earlier, later in zip(times, times[1:], strict=False)
            )
            say(
                f"{instance.name} restarted: pid {old_pid} ({exit_status(code)}) -> {instance.pid}; "
                f"drained {drained:.1f} s, stopped {stopped:.1f} s, started {started:.1f} s, "
                f"in rotation {up:.1f} s later"
            )

    def check(self) -> None:
        """Every process still running: a cluster with a dead part stops rather than limps."""
        for name, process in [("HAProxy", self.lb.process)] + [(i.name, i.process) for i in self.instances]:
            if process is not None and process.poll() is not None:
                raise ClusterError(f"{name} exited with code {process.returncode}")

    def write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "url": self.url,
            "socket": str(self.lb.socket_path),
            "backend": BACKEND,
            "ready_path": self.ready_path,
            "instances": [
                {"name": i.name, "port": i.port, "pid": i.pid, "log": str(i.log_path)} for i in self.instances
            ],
            "restarts": self.restarts,
        }
        temporary = self.run_dir / f".{STATE_FILE}.tmp"
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.run_dir / STATE_FILE)  # readers never see half a file


def interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops `up` as Ctrl-C does: everything it started goes too


def up(args: argparse.Namespace) -> int:
    args.run_dir.mkdir(parents=True, exist_ok=True)
    (args.run_dir / STATE_FILE).unlink(missing_ok=True)
    cluster = Cluster(args.run_dir, args.port, args.workers)
    hangups: list[int] = []
    signal.signal(signal.SIGHUP, lambda *_: hangups.append(1))
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)  # also when started in the background, where it is ignored
    try:
        cluster.start()
        say(f"serving on {cluster.url}; Ctrl-C stops everything, `rolling-restart` restarts each instance")
        while True:
            cluster.check()
            if hangups:
                hangups.clear()
                cluster.restarts["requested"] += 1
                cluster.write_state()
                say("rolling restart")
                try:
                    cluster.rolling_restart()
                    cluster.restarts.update(ok=True, message="every instance restarted")
                except ClusterError as error:
                    cluster.restarts.update(ok=False, message=str(error))
                    say(f"rolling restart failed: {error}")
                cluster.restarts["completed"] = cluster.restarts["requested"]
                cluster.write_state()
            time.sleep(0.2)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except ClusterError as error:
        say(f"stopping: {error}")
        return 1
    finally:
        cluster.stop()
        (args.run_dir / STATE_FILE).unlink(missing_ok=True)


def read_state(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        raise ClusterError(f"no cluster running from {run_dir} (start one with `up`)") from None


def rolling_restart(args: argparse.Namespace) -> int:
    state = read_state(args.run_dir)
    before = state["restarts"]["requested"]
    deadline = time.monotonic() + RESTART_TIMEOUT
    try:
        os.kill(state["pid"], signal.SIGHUP)
        while (state := read_state(args.run_dir))["restarts"]["completed"] <= before:
            if time.monotonic() > deadline:
                raise ClusterError(f"the rolling restart did not finish within {RESTART_TIMEOUT:.0f} s")
            os.kill(state["pid"], 0)  # still there
            time.sleep(0.2)
    except ProcessLookupError:
        raise ClusterError(f"`up` (pid {state['pid']}) is gone; its logs are in {args.run_dir}") from None
    restarts = state["restarts"]
    print(("" if restarts["ok"] else "failed: ") + restarts["message"])
    for instance in state["instances"]:
        print(f"{instance['name']}: pid {instance['pid']} on port {instance['port']}")
    return 0 if restarts["ok"] else 1


def status(args: argparse.Namespace) -> int:
    state = read_state(args.run_dir)
    lb = LoadBalancer(args.run_dir)
    lb.socket_path = Path(state["socket"])
    print(f"{state['url']} (HAProxy checks {state['ready_path']})")
    for name, row in lb.stats().items():
        print(f"{name:8} {row['status']:12} current {row['scur']:>4}  total {row['stot']:>8}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=Path(".cluster"), help="state and logs (.cluster)")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the instances and HAProxy, in the foreground")
    start.add_argument("--port", type=int, default=8000, help="HAProxy's port (8000; 0: a free one)")
    start.add_argument("--workers", type=int, default=1, help="worker processes per instance (1)")
    commands.add_parser("rolling-restart", help="restart each instance in turn, without dropping a request")
    commands.add_parser("status", help="HAProxy's view of the servers")
    args = parser.parse_args(argv)
    try:
        return {"up": up, "rolling-restart": rolling_restart, "status": status}[args.command](args)
    except ClusterError as error:
        print(f"cluster: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
