"""Settings, read once from the environment (see the contract's Configuration table)."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_SQLITE_FILE = "bucketlist.sqlite3"
MIN_SECRET_BYTES = 32
LOG_FORMATS = ("text", "json")


class ConfigurationError(Exception):
    """A setting is missing or unusable; the message is one line for the operator."""


@dataclass(frozen=True)
class RateLimit:
    """At most `amount` counted attempts in any `seconds`-long span of time."""

    amount: int
    seconds: int


@dataclass(frozen=True)
class RateLimits:
    """The contract's four limits (see bucketlist.ratelimit); `off` disables all of them."""

    login_email: RateLimit = RateLimit(10, 15 * 60)
    login_address: RateLimit = RateLimit(50, 15 * 60)
    register: RateLimit = RateLimit(20, 60 * 60)
    reset: RateLimit = RateLimit(10, 15 * 60)
    enabled: bool = True

    @classmethod
    def parse(cls, raw: str) -> RateLimits:
        """`off`, or `name=AMOUNT/[N]UNIT` pairs (`login_email=10/15m,register=20/1h`) over the defaults."""
        if raw.strip().lower() == "off":
            return cls(enabled=False)
        changes: dict[str, RateLimit] = {}
        for part in filter(None, (p.strip() for p in raw.split(","))):
            name, _, value = (s.strip() for s in part.partition("="))
            match = _RATE_LIMIT.fullmatch(value)
            if name not in _RATE_LIMIT_NAMES or match is None:
                raise ConfigurationError(
                    f"BUCKETLIST_RATE_LIMITS: {part!r} is not NAME=AMOUNT/PERIOD with NAME one of"
                    f" {', '.join(_RATE_LIMIT_NAMES)} and PERIOD like 30s, 15m, 1h or 1d (or the word off)"
                )
            amount, periods, unit = int(match[1]), int(match[2] or 1), match[3].lower()
            seconds = periods * _SECONDS_PER_UNIT[unit]
            if not 1 <= amount <= MAX_RATE_LIMIT_AMOUNT or not 1 <= seconds <= MAX_RATE_LIMIT_SECONDS:
                raise ConfigurationError(
                    f"BUCKETLIST_RATE_LIMITS: {part!r} must allow 1 to {MAX_RATE_LIMIT_AMOUNT} attempts"
                    f" per 1 s to {MAX_RATE_LIMIT_SECONDS // 86400} days"
                )
            changes[name] = RateLimit(amount, seconds)
        return cls(**changes)


_RATE_LIMIT_NAMES = ("login_email", "login_address", "register", "reset")
_RATE_LIMIT = re.compile(r"([0-9]{1,9})/([0-9]{1,9})?([smhdSMHD])")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_RATE_LIMIT_AMOUNT = 1_000_000
# Each counted attempt is kept this long at most (a row, or an entry of a Redis list).
MAX_RATE_LIMIT_SECONDS = 7 * 86400


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_FILE}"
    secret_key: str | None = None
    token_ttl: int = 86400
    bcrypt_rounds: int = 12
    page_size: int = 20
    cors_origins: tuple[str, ...] = ("*",)
    max_body_bytes: int = 1024 * 1024
    # Threads per process running handlers (each holds a database connection). 0 runs them on
    # the event loop, one at a time: no GIL contention, the shortest latency tail under load.
    # Threads let one slow request (a search over a huge bucket) hold up fewer others.
    # Password hashing always has a pool of its own.
    threads: int = 0
    # How long a keyed create holds its Idempotency-Key before a retry may take it over
    # (a worker that died mid-request never finishes it). Longer than any request takes.
    idempotency_lease: int = 30
    # Validating responses costs time on every request; the tests turn it on.
    validate_responses: bool = False
    # Slow clients (bucketlist/protocol.py): seconds to send a whole request head, seconds a
    # body may stall, seconds an idle keep-alive connection stays open.
    head_timeout: float = 10.0
    body_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    # Seconds a stopping instance has to answer what it already received (bucketlist/server.py).
    shutdown_timeout: float = 30.0
    # Seconds `serve` waits for the database to answer at start-up.
    db_wait: float = 30.0
    # GET /metrics (Prometheus text); meant for an internal network, so it can be turned off.
    metrics: bool = True
    log_format: str = "text"
    rate_limits: RateLimits = RateLimits()
    # Rate-limit counts live in Redis when set, else in the database.
    redis_url: str | None = None
    # Peers whose X-Forwarded-For names the client (addresses, networks, or "*").
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if environ is None else environ
        values: dict = {}
        if env.get("DATABASE_URL"):
            values["database_url"] = env["DATABASE_URL"]
        if env.get("SECRET_KEY"):
            values["secret_key"] = env["SECRET_KEY"]
        for name, attr, low, high in (
            ("BUCKETLIST_TOKEN_TTL", "token_ttl", 1, 10 * 365 * 86400),
            ("BUCKETLIST_BCRYPT_ROUNDS", "bcrypt_rounds", 4, 31),
            ("BUCKETLIST_PAGE_SIZE", "page_size", 1, 100),
            ("BUCKETLIST_MAX_BODY_BYTES", "max_body_bytes", 1024, 64 * 1024 * 1024),
            ("BUCKETLIST_THREADS", "threads", 0, 64),
            ("BUCKETLIST_IDEMPOTENCY_LEASE", "idempotency_lease", 1, 3600),
        ):
            if env.get(name):
                values[attr] = _int_setting(name, env[name], low, high)
        for name, attr, low, high in (
            ("BUCKETLIST_HEAD_TIMEOUT", "head_timeout", 0.1, 3600),
            ("BUCKETLIST_BODY_TIMEOUT", "body_timeout", 0.1, 3600),
            ("BUCKETLIST_KEEPALIVE_TIMEOUT", "keepalive_timeout", 0.1, 3600),
            ("BUCKETLIST_SHUTDOWN_TIMEOUT", "shutdown_timeout", 1, 3600),
            ("BUCKETLIST_DB_WAIT", "db_wait", 0, 3600),
        ):
            if env.get(name):
                values[attr] = _seconds_setting(name, env[name], low, high)
        if env.get("BUCKETLIST_CORS_ORIGINS"):
            origins = tuple(o.strip() for o in env["BUCKETLIST_CORS_ORIGINS"].split(",") if o.strip())
            values["cors_origins"] = origins or ("*",)
        if env.get("BUCKETLIST_METRICS"):
            values["metrics"] = bool(_int_setting("BUCKETLIST_METRICS", env["BUCKETLIST_METRICS"], 0, 1))
        if env.get("BUCKETLIST_LOG_FORMAT"):
            raw = env["BUCKETLIST_LOG_FORMAT"]
            values["log_format"] = _choice_setting("BUCKETLIST_LOG_FORMAT", raw, LOG_FORMATS)
        if env.get("BUCKETLIST_RATE_LIMITS"):
            values["rate_limits"] = RateLimits.parse(env["BUCKETLIST_RATE_LIMITS"])
        if env.get("BUCKETLIST_REDIS_URL"):
            values["redis_url"] = _redis_url(env["BUCKETLIST_REDIS_URL"])
        if env.get("BUCKETLIST_FORWARDED_ALLOW_IPS"):
            values["forwarded_allow_ips"] = _forwarded_allow_ips(env["BUCKETLIST_FORWARDED_ALLOW_IPS"])
        values.update(overrides)
        return cls(**values)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    def sqlite_path(self) -> str:
        """The SQLite file named by `sqlite:///relative` or `sqlite:////absolute`."""
        path = self.database_url[len("sqlite:///") :] if self.database_url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigurationError(f"DATABASE_URL must look like sqlite:///path, not {self.database_url!r}")
        return str(Path(path).expanduser().resolve())

    def postgres_params(self) -> dict:
        parts = urlsplit(self.database_url)
        if parts.scheme not in ("postgres", "postgresql") or not parts.path.strip("/"):
            raise ConfigurationError(
                "DATABASE_URL must look like sqlite:///path or postgresql://user@host:port/db"
            )
        params = {"database": unquote(parts.path.lstrip("/"))}
        if parts.hostname:
            params["host"] = parts.hostname
        if parts.port:
            params["port"] = parts.port
        if parts.username:
            params["user"] = unquote(parts.username)
        if parts.password:
            params["password"] = unquote(parts.password)
        return params

    def resolved_secret_key(self) -> str:
        """The signing key: given, or (SQLite only) generated once and kept beside the database."""
        if self.secret_key:
            if len(self.secret_key.encode()) < MIN_SECRET_BYTES:
                raise ConfigurationError(f"SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes long")
            return self.secret_key
        if not self.is_sqlite:
            raise ConfigurationError(
                f"SECRET_KEY must be set (at least {MIN_SECRET_BYTES} bytes) when DATABASE_URL is not SQLite"
            )
        key_file = Path(self.sqlite_path() + ".secret")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            draft = key_file.with_name(f"{key_file.name}.{os.getpid()}.tmp")
            draft.write_text(secrets.token_urlsafe(48) + "\n")
            draft.chmod(0o600)
            try:
                # link() refuses to replace: processes starting together all keep the first key.
                os.link(draft, key_file)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        key = key_file.read_text().strip()
        if len(key.encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(f"{key_file} holds a key shorter than {MIN_SECRET_BYTES} bytes")
        return key


def _int_setting(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _seconds_setting(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise ConfigurationError(f"{name} must be between {low:g} and {high:g} seconds, not {raw}")
    return value


def _choice_setting(name: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return value


def _redis_url(raw: str) -> str:
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(
            "BUCKETLIST_REDIS_URL must look like redis://host:port/db, rediss://... or unix:///path"
        )
    return raw


def _forwarded_allow_ips(raw: str) -> tuple[str, ...]:
    hosts = tuple(h.strip() for h in raw.split(",") if h.strip())
    for host in hosts:
        if host == "*":
            continue
        try:
            ipaddress.ip_network(host) if "/" in host else ipaddress.ip_address(host)
        except ValueError:
            # uvicorn would take it as a literal name that no TCP peer ever has: say so now.
            raise ConfigurationError(
                f"BUCKETLIST_FORWARDED_ALLOW_IPS: {host!r} is not an IP address, a network or *"
            ) from None
    return hosts
