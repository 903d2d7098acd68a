"""Probes and metrics for operators: operationIds `operations.*` in the spec, served at the
root (`/healthz`, not under /v1), without a token."""

from __future__ import annotations

from .. import lifecycle
from ..dispatch import through_flask
from ..errors import ENDPOINT_NOT_FOUND, RETRY_AFTER_SECONDS, ApiError
from ..metrics import instance as process_metrics
from ..state import current

RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def healthz() -> dict:
    return {"status": "success", "message": "alive"}


def readyz() -> dict:
    # Runs on a thread of its own (bucketlist.wsgi), never on the event loop: it may wait.
    if lifecycle.draining.is_set():
        raise ApiError(503, "shutting down", headers=RETRY_AFTER)
    if not current().readiness.database_answers():
        raise ApiError(503, "database unavailable", headers=RETRY_AFTER)
    return {"status": "success", "message": "ready"}


@through_flask  # Prometheus' text, not JSON
def metrics() -> str:
    if not current().settings.metrics:
        raise ApiError(404, ENDPOINT_NOT_FOUND)
    # Text without a version parameter is Prometheus' text format 0.0.4, which this is;
    # connexion sends it as the spec's text/plain.
    return process_metrics().exposition()
