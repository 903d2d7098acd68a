"""Logging: one configuration for the server's own lines and uvicorn's, as text or JSON.

`bucketlist serve` passes `logging_config(...)` to uvicorn, which applies it in every worker.
Every record carries the id of the request it was written for (`request_id`, from a context
variable that `observability.py` sets), so a 503's warning or a 500's traceback can be tied
to its access line. In JSON mode each record is one line, a traceback included.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

ACCESS_LOGGER = "bucketlist.access"
REDACTED = "[REDACTED]"
# A query parameter whose name suggests a credential never reaches a log line with its value.
SENSITIVE_NAME = re.compile(r"token|passw|pwd|secret|key|auth|session|signature|credential", re.IGNORECASE)
# A JWT's header is base64url JSON, so it starts `eyJ`; tokens have three dot-separated parts.
JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")

current_request_id: ContextVar[str | None] = ContextVar("bucketlist_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a request) to every record the handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """`2026-11-27T13:20:18.123+00:00 INFO bucketlist.access [request id] pid=123: message`"""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(request_label)s] pid=%(process)d: %(message)s"
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        record.request_label = getattr(record, "request_id", None) or "-"  # "-": outside a request
        return super().format(record)


# Field names of a JSON line (uvicorn's records carry `color_message`: left out).
JSON_FIELDS = ["levelname", "name", "message", "request_id", "process"]
JSON_RENAMES = {"levelname": "level", "name": "logger", "process": "pid", "exc_info": "traceback"}
JSON_RESERVED = [*RESERVED_ATTRS, "color_message", "taskName", "request_label"]


def formatter(log_format: str) -> logging.Formatter:
    """One line per record: text, or a JSON object (a traceback inside it, as one string)."""
    if log_format == "json":
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields=JSON_RENAMES,
            reserved_attrs=JSON_RESERVED,
            timestamp="time",
            json_ensure_ascii=False,
        )
    return TextFormatter()


def logging_config(log_format: str) -> dict:
    """A `logging.config.dictConfig` for the service and uvicorn, writing to stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "bucketlist.logs.RequestIdFilter"}},
        "formatters": {"default": {"()": "bucketlist.logs.formatter", "log_format": log_format}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            # Propagate to the root's handler, formatted like everything else.
            "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            # The service writes its own access line (observability.py).
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "bucketlist": {"level": "INFO"},
        },
        "root": {"level": "WARNING", "handlers": ["default"]},
    }


def loggable_target(path: str, query: str) -> str:
    """Path and query string as sent, with every value of a parameter named like a credential,
    and anything shaped like one of our tokens (a JWT) wherever it is, replaced."""
    if query:
        parts = query.split("&")
        for index, part in enumerate(parts):
            name, equals, _value = part.partition("=")
            if equals and SENSITIVE_NAME.search(unquote_plus(name)):
                parts[index] = f"{name}={REDACTED}"
        path = f"{path}?{'&'.join(parts)}"
    return JWT_LIKE.sub(REDACTED, path) if "eyJ" in path else path
