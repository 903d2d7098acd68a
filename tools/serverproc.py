"""A server as a child process: a free loopback port, its own process group, a log, readiness.

One implementation for everything that starts servers: the tests' live server
(`tools/live_server.py`, also used by `tools/fuzz.py`) and the benchmark's service and
baselines (`tools/bench/servers.py`). It lives in `tools/` because it is tooling around the
service, not the service; the tests reach it as `tools.serverproc` (pytest puts the
repository on the path: `pythonpath = .` in setup.cfg), and tools never import tests.

The standard library only, except the CPU accounting, which needs psutil (the `bench` extra)
and imports it when asked.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.1


class ServerError(RuntimeError):
    """The server did not come up; the message carries the end of its log."""


def free_port() -> int:
    """A port nobody listens on now (someone may take it before the server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def answers(url: str, *, any_status: bool = False) -> bool:
    """Whether `url` answers 200 (or, with `any_status`, answers at all: a 401 is an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:
        error.close()
        return any_status
    except (urllib.error.URLError, OSError):
        return False


def log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ServerProcess:
    """One server command, started in its own session so that stopping it reaches its workers."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        port: int,
    ) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready: Callable[[], bool], timeout: float) -> None:
        """Start and wait until `ready()`; ServerError (the log's tail) if it exits or times out."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"the server did not answer within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(POLL_SECONDS)
        raise ServerError(f"the server exited with code {self.process.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def port_was_taken(self) -> bool:
        return "address already in use" in self.tail().lower()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        # Its own process group (start_new_session): this reaches the workers and nothing else.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    # CPU accounting (psutil: the `bench` extra).

    def processes(self) -> list:
        """The server process and its descendants (the workers), as psutil.Process objects."""
        import psutil

        if self.process is None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def worker_pids(self) -> list[int]:
        """The Python processes below the one started (uvicorn's or gunicorn's workers), or
        the one started when it has none (one worker serves in the process itself)."""
        import psutil

        processes = self.processes()
        found = []
        for proc in processes[1:]:
            try:
                if "python" in os.path.basename(proc.exe()):
                    found.append(proc.pid)
            except psutil.Error:
                continue
        return found or [proc.pid for proc in processes[:1]]

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.processes())


def cpu_seconds(processes: list) -> float:
    """User and system CPU of these psutil processes; those that are gone count nothing."""
    import psutil

    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def pids_cpu_seconds(pids: list[int]) -> float:
    """The same for process ids (say, a database's backends); ids that are gone count nothing."""
    import psutil

    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
        except psutil.Error:
            continue
    return cpu_seconds(processes)
