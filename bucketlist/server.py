"""`bucketlist serve`'s processes: a supervisor, and workers that each accept on a socket of their own.

uvicorn's multiprocess mode lets every worker accept from one shared socket: whichever wakes
first takes the connection, so 16 keep-alive clients split 16:0, 14:2 or 12:4 between two
workers, and a connection stays where it landed. Here the supervisor binds one socket per
worker on the same address with SO_REUSEPORT and the kernel hashes each new connection to one
of them (README, Workers). The supervisor keeps its copies of the sockets: a worker that dies is
replaced on the same socket, so the connections waiting in its queue are served by the
replacement, and only those the dead worker held are lost.

Stopping (SIGTERM or SIGINT, to the supervisor or to its whole process group): the supervisor
closes its copies of the sockets and passes SIGTERM on; each worker sets `lifecycle.draining`
(/readyz answers 503), closes its socket, answers what it has received, the last answer on each
connection with `Connection: close` (bucketlist/protocol.py), and exits 0. The supervisor exits
0 once every worker has, or 1 after killing those still running `shutdown_timeout` seconds after
the signal.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import logging
import multiprocessing
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

import uvicorn

from . import lifecycle
from .config import Settings
from .protocol import timed_protocol

logger = logging.getLogger("bucketlist.server")

APP = "bucketlist.app:app_from_env"
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
BACKLOG = 2048  # uvicorn's default
# Workers give up on unfinished requests this long before the supervisor's deadline, so that
# they still exit on their own, with 0.
SHUTDOWN_MARGIN_SECONDS = 1.0
# A replacement that fails to start (say the database is gone) is retried, waiting this much
# longer each time, up to the maximum.
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 10.0
DB_RETRY_SECONDS = 1.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# What WorkerServer relies on in uvicorn's Server (see the canary in tests/test_process.py).
REACHES = {uvicorn.Server: ("startup", "capture_signals", "handle_exit", "started", "should_exit")}


class DatabaseUnavailable(Exception):
    """The database did not answer within `BUCKETLIST_DB_WAIT`; the message is one line."""


def wait_for_database(settings: Settings, report: Callable[[str], None]) -> None:
    """Connect until the database answers, for up to `settings.db_wait` seconds."""
    deadline = time.monotonic() + settings.db_wait
    attempt = 0
    while True:
        attempt += 1
        try:
            _connect_once(settings, timeout=max(0.0, deadline - time.monotonic()))
        except (sqlite3.Error, OSError, _postgres_error()) as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            left = deadline - time.monotonic()
            if left <= 0:
                waited = f"{settings.db_wait:g} s ({attempt} attempts)"
                raise DatabaseUnavailable(f"the database did not answer within {waited}: {reason}") from None
            report(f"waiting for the database (attempt {attempt}, {left:.0f} s left): {reason}")
            time.sleep(min(DB_RETRY_SECONDS, left))
        else:
            if attempt > 1:
                report(f"the database answered (attempt {attempt})")
            return


def _postgres_error() -> type[Exception]:
    import psycopg2

    return psycopg2.Error


def _connect_once(settings: Settings, timeout: float) -> None:
    if settings.is_sqlite:
        # Opening creates the file when its folder exists, as the schema creation would.
        sqlite3.connect(settings.sqlite_path()).close()
        return
    import psycopg2

    # libpq rounds a connect_timeout below 2 up to 2; a refused port fails at once anyway.
    connection = psycopg2.connect(
        **settings.postgres_params(), connect_timeout=max(2, min(5, round(timeout)))
    )
    connection.close()


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one address, among which the kernel spreads connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # A plain bind first: it fails if anything listens there already, another instance of this
    # service included, which SO_REUSEPORT would otherwise let us share the port with, silently.
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]  # --port 0: one free port for every worker
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class WorkerServer(uvicorn.Server):
    """uvicorn's server, minus its signal handling: it drains on the first signal, never
    force-quits on a second one (the supervisor bounds the time), and exits 0."""

    def __init__(self, config: uvicorn.Config, ready: Connection) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            # The app is built: its ~80,000 objects (the spec, connexion's operations, Pony's
            # entities) live as long as the worker. Out of the collector's sight, a full
            # collection no longer walks them: measured in process, one every ~8,000 requests
            # that held the loop 125-170 ms (every request queued behind it), now none.
            gc.collect()
            gc.freeze()
            self.ready.send_bytes(b"ready")
            self.ready.close()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        if lifecycle.draining.is_set():  # asked to stop while it was starting
            self.should_exit = True
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: Any) -> None:
        lifecycle.draining.set()
        self.should_exit = True


def _stop_while_starting(sig: int, frame: Any) -> None:
    lifecycle.draining.set()  # WorkerServer.capture_signals sees it


def _die_with_supervisor(supervisor_pid: int) -> None:
    """A worker whose supervisor is killed outright stops too, instead of serving on alone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the worker outlives a killed supervisor
        return
    if os.getppid() != supervisor_pid:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Worker:
    slot: int  # which of the sockets it accepts on
    process: multiprocessing.process.BaseProcess
    ready: Connection  # readable once it serves (or at its end)
    serving: bool = False


@dataclass
class Supervisor:
    settings: Settings
    host: str
    port: int
    workers: int
    # Keyword arguments for each worker's uvicorn.Config (access_log, log_config, ...).
    uvicorn_options: dict[str, Any] = field(default_factory=dict)
    # Called with the pid of every worker that has ended (died, or stopped at shutdown), for
    # example to mark its metrics dead.
    on_worker_exit: list[Callable[[int], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.running: dict[int, Worker] = {}  # by slot
        self.restart_at: dict[int, float] = {}  # slots waiting to be restarted
        self.restart_delay: dict[int, float] = {}
        self.signals: list[int] = []
        self.wakeup: tuple[int, int] = (-1, -1)  # the pipe signals wake the supervisor through
        self.context = multiprocessing.get_context("fork")

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit code. OSError if the address is taken."""
        self.sockets = bind_sockets(self.host, self.port, self.workers)
        port = self.sockets[0].getsockname()[1]
        # Imported once here, so that each worker (forked) only builds the application.
        importlib.import_module(APP.partition(":")[0])
        self.wakeup = wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(wakeup_write, False)
        previous_wakeup = signal.set_wakeup_fd(wakeup_write)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            for slot in range(self.workers):
                self._start(slot)
            logger.info(
                "serving on http://%s:%d with %d worker%s (supervisor pid %d)",
                f"[{self.host}]" if ":" in self.host else self.host,
                port,
                self.workers,
                "" if self.workers == 1 else "s",
                os.getpid(),
            )
            code = self._supervise(wakeup_read)
            return self._stop() if code is None else code
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wakeup_read)
            os.close(wakeup_write)
            for sock in self.sockets:
                sock.close()

    def _on_signal(self, sig: int, frame: Any) -> None:
        self.signals.append(sig)

    def _supervise(self, wakeup: int) -> int | None:
        """Keep every slot served until a signal (None), or a worker fails to start (1)."""
        started_all = False
        while not self.signals:
            now = time.monotonic()
            for slot, due in list(self.restart_at.items()):
                if due <= now:
                    del self.restart_at[slot]
                    self._start(slot)
            waits: list[Any] = [wakeup]
            for worker in self.running.values():
                waits.append(worker.process.sentinel)
                if not worker.serving:
                    waits.append(worker.ready)
            timeout = max(0.0, min(self.restart_at.values()) - now) if self.restart_at else None
            ready = wait(waits, timeout)
            if wakeup in ready:
                os.read(wakeup, 512)
            for worker in list(self.running.values()):
                if worker.ready in ready and not worker.serving:
                    try:
                        worker.serving = worker.ready.recv_bytes() == b"ready"
                    except EOFError:
                        pass  # it ended before serving: its sentinel says so too
                if worker.process.sentinel in ready:
                    worker.process.join()
                    self._ended(worker)
                    if not worker.serving:
                        if not started_all:
                            logger.error(
                                "worker %d failed to start (exit code %s); see above",
                                worker.process.pid,
                                worker.process.exitcode,
                            )
                            self._stop()
                            return 1
                        delay = self.restart_delay.get(worker.slot, RESTART_DELAY_SECONDS)
                        self.restart_delay[worker.slot] = min(delay * 2, MAX_RESTART_DELAY_SECONDS)
                        self.restart_at[worker.slot] = time.monotonic() + delay
                        logger.error(
                            "worker %d failed to start (exit code %s); trying again in %g s",
                            worker.process.pid,
                            worker.process.exitcode,
                            delay,
                        )
                    else:
                        self.restart_delay.pop(worker.slot, None)
                        logger.error(
                            "worker %d ended (%s); starting another",
                            worker.process.pid,
                            _describe_exit(worker.process.exitcode),
                        )
                        self._start(worker.slot)
            started_all = started_all or all(w.serving for w in self.running.values())
        return None

    def _start(self, slot: int) -> None:
        ready_read, ready_write = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_worker_main,
            name=f"bucketlist-worker-{slot}",
            args=(self, slot, ready_write, os.getpid()),
        )
        # Blocked across the fork: a signal the worker gets before installing its own handlers
        # waits for them instead of running ours (a copy, in the wrong process).
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        ready_write.close()
        self.running[slot] = Worker(slot=slot, process=process, ready=ready_read)

    def _ended(self, worker: Worker) -> None:
        del self.running[worker.slot]
        worker.ready.close()
        for hook in self.on_worker_exit:
            try:
                hook(worker.process.pid)
            except Exception:
                logger.exception("on_worker_exit hook failed for worker %d", worker.process.pid)

    def _stop(self) -> int:
        """Stop accepting, let every worker drain, and wait for them; the exit code."""
        deadline = time.monotonic() + self.settings.shutdown_timeout
        for sock in self.sockets:
            sock.close()
        self.restart_at.clear()
        for worker in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signal.SIGTERM)
        clean = True
        for worker in list(self.running.values()):
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                logger.error(
                    "worker %d still busy after %g s: killed",
                    worker.process.pid,
                    self.settings.shutdown_timeout,
                )
                worker.process.kill()
                worker.process.join()
                clean = False
            elif worker.process.exitcode != 0:
                logger.error(
                    "worker %d ended (%s)", worker.process.pid, _describe_exit(worker.process.exitcode)
                )
                clean = False
            self._ended(worker)
        logger.info("stopped")
        return 0 if clean else 1


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def _worker_main(supervisor: Supervisor, slot: int, ready: Connection, supervisor_pid: int) -> None:
    """The body of a worker process, forked from the supervisor with stop signals blocked."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_while_starting)
    signal.set_wakeup_fd(-1)  # the supervisor's, inherited
    for fd in supervisor.wakeup:
        os.close(fd)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _die_with_supervisor(supervisor_pid)
    sock = supervisor.sockets[slot]
    for index, other in enumerate(supervisor.sockets):
        if index != slot:
            other.close()  # so that closing it at shutdown is up to its own worker and us
    settings = supervisor.settings
    config = uvicorn.Config(
        APP,
        factory=True,
        http=timed_protocol(settings),
        ws="none",
        timeout_keep_alive=settings.keepalive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=max(0.0, settings.shutdown_timeout - SHUTDOWN_MARGIN_SECONDS),  # type: ignore[arg-type]
        **supervisor.uvicorn_options,
    )
    WorkerServer(config, ready).run(sockets=[sock])


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    uvicorn_options: dict[str, Any] | None = None,
    on_worker_exit: list[Callable[[int], None]] | None = None,
) -> int:
    """Serve the API until stopped; the process's exit code. OSError if the address is taken."""
    supervisor = Supervisor(
        settings=settings,
        host=host,
        port=port,
        workers=workers,
        uvicorn_options=dict(uvicorn_options or {}),
        on_worker_exit=list(on_worker_exit or []),
    )
    return supervisor.run()
