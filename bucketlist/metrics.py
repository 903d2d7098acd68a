"""Prometheus metrics, summed over every worker process of an instance.

`bucketlist serve` gives the workers a fresh, empty directory in PROMETHEUS_MULTIPROC_DIR
(`prepare_multiprocess_dir`) before they start: each worker then writes its counts to files
there, and `/metrics`, whichever worker answers it, adds them all up. Without that variable
(tests, an app built in-process) the counts live in a registry of this process.

prometheus-client chooses file or in-memory storage once, when it is first imported, from that
variable: so it is imported here lazily, when the first metric is made, never before `serve`
has set the variable. The files of a worker that died stay: its counts remain part of the
totals, as counters must (`mark_process_dead` only concerns live gauges, which we do not have).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
# Labels stay bounded whatever clients send: any other method is counted as OTHER.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        import prometheus_client as prometheus  # lazily: see the module's docstring

        self._prometheus = prometheus
        # `*_created` timestamps: noise beside counters that restart with the instance anyway.
        prometheus.disable_created_metrics()
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None
        # In multiprocess mode every value goes to the files; a registry of this process
        # would report this worker's share only.
        self.registry = None if self.multiprocess_dir else prometheus.CollectorRegistry()
        self.requests = prometheus.Counter(
            "bucketlist_http_requests",
            "HTTP requests answered, by the spec's operationId (or `unmatched`), method and status.",
            ["operation", "method", "status"],
            registry=self.registry,
        )
        self.duration = prometheus.Histogram(
            "bucketlist_http_request_duration_seconds",
            "Time from receiving a request to having sent its answer, by operationId.",
            ["operation"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = prometheus.Counter(
            "bucketlist_rate_limited",
            "Requests refused with 429 by a rate limit.",
            registry=self.registry,
        )
        self.database_errors = prometheus.Counter(
            "bucketlist_database_errors",
            "Requests answered 503 because the database failed or did not answer.",
            registry=self.registry,
        )
        # labels() takes a lock and builds a key on every call; the combinations are few.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, operation: str, method: str, status: int, seconds: float) -> None:
        key = (operation, method, status)
        children = self._children.get(key)
        if children is None:
            label_method = method if method in KNOWN_METHODS else "OTHER"
            children = self._children[key] = (
                self.requests.labels(operation, label_method, str(status)),
                self.duration.labels(operation),
            )
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> str:
        """Every metric in Prometheus' text format."""
        prometheus = self._prometheus
        registry = self.registry
        if registry is None:
            from prometheus_client import multiprocess

            registry = prometheus.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return prometheus.generate_latest(registry).decode()


_instance: Metrics | None = None
_instance_lock = threading.Lock()


def instance() -> Metrics:
    """The metrics of this process (one set, whichever application counts into it)."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = Metrics()
    return _instance


def rate_limited() -> None:
    """Count a request refused by a rate limit."""
    instance().rate_limited.inc()


def database_error() -> None:
    """Count a request answered 503 because of the database."""
    instance().database_errors.inc()


def prepare_multiprocess_dir(*, several_processes: bool) -> Path | None:
    """Called by `serve` before any worker starts: an empty directory for the workers' counts.

    The operator's own PROMETHEUS_MULTIPROC_DIR is emptied of the files of an earlier run
    (counts must start from zero with the instance). Otherwise, for several processes, a new
    temporary directory is made, and returned so that `serve` can remove it when it stops; one
    process needs none (and uvicorn ends a single process by re-raising SIGTERM, which would
    leave the directory behind).
    """
    given = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    if not several_processes:
        return None
    created = Path(tempfile.mkdtemp(prefix="bucketlist-metrics-"))
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(created)
    return created


def remove_multiprocess_dir(created: Path | None) -> None:
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
