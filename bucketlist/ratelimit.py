"""Rate limits on logins, registrations and password resets, shared by every worker and host.

The window logic is `limits`' moving window: an attempt counts for exactly `seconds` after it
was made, so "10 per 15 minutes" never lets 11 through in any 15-minute span (a fixed window
lets up to 20 straddle a boundary), and the wait it gives is honest: once the limit is
reached, the oldest counted attempt leaves the window at a known time, `Retry-After` says
when, and a retry at that time is let through. It keeps one entry per counted attempt, which
costs nothing at these sizes (at most `amount` live entries per key).

Counts live in Redis (`limits`' own storage) when BUCKETLIST_REDIS_URL is set, otherwise in
the service's database (`SQLStorage` below: `limits` has no SQL storage, so this is one,
written to `limits`' public storage interface for the moving window).

Only failures count for logins and resets: the limit is read before the password is checked
(a refused attempt costs no hashing) and an attempt is counted after the 401. Two wrong
passwords checked at the same moment may both be let through when one slot was left, so the
overshoot is bounded by the requests in flight at once (4 password threads per worker), and
the count itself never exceeds the limit (the store refuses to add past it).

If the count store cannot be reached, these three operations answer 503 (the limit is a
security control: silently dropping it is the brute force it exists to stop); every other
operation is unaffected.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg2
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from . import metrics, request
from .config import RateLimit, RateLimits, Settings
from .connections import OwnConnection
from .errors import ApiError, unavailable

logger = logging.getLogger("bucketlist")

TOO_MANY_REQUESTS = "Too many requests, try again later"
# A store that does not answer within this costs the request a bounded wait and a 503.
STORE_TIMEOUT_SECONDS = 2
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_KEY_PREFIX = "bucketlist"
# Expired rows of keys nobody hits again are deleted by whichever worker next counts an
# attempt, at most this often per process: no cron job, and no cost per request.
SWEEP_EVERY_SECONDS = 60

T = TypeVar("T")


def rate_limited(retry_after: int) -> ApiError:
    """The one place a 429 is made, and counted (`bucketlist_rate_limited_total`)."""
    metrics.rate_limited()
    return ApiError(429, TOO_MANY_REQUESTS, headers={"Retry-After": str(retry_after)})


def client_address() -> str:
    """The peer, or the nearest untrusted X-Forwarded-For hop behind a trusted proxy: the
    app's ProxyHeadersMiddleware (see app.py) has already rewritten the ASGI client."""
    return request.client_address() or "unknown"


class RateLimiter:
    """The contract's four limits over one store; each check is one or two store calls."""

    def __init__(self, limits: RateLimits, storage: Storage) -> None:
        self.storage = storage
        self.window = MovingWindowRateLimiter(storage)
        self.login_email = _item(limits.login_email)
        self.login_address = _item(limits.login_address)
        self.register = _item(limits.register)
        self.reset = _item(limits.reset)

    def check_login(self, email: str, address: str) -> None:
        """429 while either failed-login count is full; `email` is the normalised one."""
        self._refuse_if_full(
            (self.login_email, ("login_email", address, email)),
            (self.login_address, ("login_address", address)),
        )

    def failed_login(self, email: str, address: str) -> None:
        self._store(self.window.hit, self.login_email, "login_email", address, email)
        self._store(self.window.hit, self.login_address, "login_address", address)

    def count_registration(self, address: str) -> None:
        """Counts this attempt, or refuses it (429) when the address has used up its limit."""
        if not self._store(self.window.hit, self.register, "register", address):
            raise rate_limited(self._wait(self.register, ("register", address)))

    def check_reset(self, user_id: int) -> None:
        self._refuse_if_full((self.reset, ("reset", str(user_id))))

    def failed_reset(self, user_id: int) -> None:
        self._store(self.window.hit, self.reset, "reset", str(user_id))

    def forget_user(self, user_id: int) -> None:
        """An account is deleted: its count goes too (the store may be Redis, so this is not part
        of the deletion's transaction; a count left behind would name an id never used again)."""
        try:
            self.window.clear(self.reset, "reset", str(user_id))
        except StorageError as exc:
            logger.warning("rate-limit store unavailable, count of user %d left to expire: %s", user_id, exc)

    def _refuse_if_full(self, *checks: tuple[RateLimitItemPerSecond, tuple[str, ...]]) -> None:
        waits = []
        for item, identifiers in checks:
            reset_at, remaining = self._store(self.window.get_window_stats, item, *identifiers)
            if remaining < 1:
                waits.append(_seconds_until(reset_at))
        if waits:
            # A retry succeeds only once every full count has room again.
            raise rate_limited(max(waits))

    def _wait(self, item: RateLimitItemPerSecond, identifiers: tuple[str, ...]) -> int:
        reset_at, _remaining = self._store(self.window.get_window_stats, item, *identifiers)
        return _seconds_until(reset_at)

    def _store(self, call: Callable[..., T], *args: Any) -> T:
        try:
            return call(*args)
        except StorageError as exc:
            logger.warning("rate-limit store unavailable: %s", exc.storage_error)
            raise unavailable() from exc


class NoLimits:
    """BUCKETLIST_RATE_LIMITS=off: every check lets the attempt through and counts nothing."""

    def check_login(self, email: str, address: str) -> None:
        pass

    def failed_login(self, email: str, address: str) -> None:
        pass

    def count_registration(self, address: str) -> None:
        pass

    def check_reset(self, user_id: int) -> None:
        pass

    def failed_reset(self, user_id: int) -> None:
        pass

    def forget_user(self, user_id: int) -> None:
        pass


def build_limiter(settings: Settings) -> RateLimiter | NoLimits:
    if not settings.rate_limits.enabled:
        return NoLimits()
    if settings.redis_url:
        # Imported only when used: redis-py adds about 0.2 s to every worker's start.
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        storage: Storage = RedisStorage(
            settings.redis_url,
            key_prefix=REDIS_KEY_PREFIX,
            wrap_exceptions=True,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            # One immediate retry (a pooled connection that a Redis restart closed), not
            # redis-py's default of three with backoff: a Redis that is down is a 503 within
            # about a second.
            retry=Retry(NoBackoff(), 1),
        )
    else:
        storage = SQLStorage(settings)
    return RateLimiter(settings.rate_limits, storage)


def _item(limit: RateLimit) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(limit.amount, limit.seconds, namespace="bucketlist")


def _seconds_until(moment: float) -> int:
    """Whole seconds, rounded up: a retry after that many is inside the freed window."""
    return max(1, math.ceil(moment - time.time()))


class SQLStorage(Storage, MovingWindowSupport):
    """`limits`' moving window over a table of the service's database (SQLite or PostgreSQL).

    One row per counted attempt in `rate_limit_hits` (migration 0002_rate_limits). Adding one
    is a single round trip, serialised per key (an advisory lock on PostgreSQL, the write lock
    on SQLite), so concurrent workers never count past the limit; reading a window is one
    indexed range scan. Keys are stored as SHA-256 digests: fixed width whatever the email or
    forwarded address.

    It runs in the password threads of each worker (register, login and reset run there,
    see wsgi.py) on one DB-API connection per process with short timeouts, like the
    revocation check: a store that stops answering is a 503 within a bounded wait.
    """

    STORAGE_SCHEME = None  # made from the service's settings, not from a URL

    # For PostgreSQL's two-key advisory locks: the first key says "rate limit", the second
    # is a hash of the limit's key. Another user of advisory locks would pick another number.
    PG_LOCK_CLASS = 0x52415445  # "RATE"
    PG_ACQUIRE_SQL = """
        SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(key)s));
        INSERT INTO rate_limit_hits (key, hit_at, expires_at)
        SELECT %(key)s, %(now)s, %(now)s + %(expiry)s FROM generate_series(1, %(amount)s)
        WHERE (
            SELECT count(*) FROM rate_limit_hits WHERE key = %(key)s AND hit_at > %(now)s - %(expiry)s
        ) + %(amount)s <= %(limit)s
    """
    SQLITE_ACQUIRE_SQL = """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :amount)
        INSERT INTO rate_limit_hits (key, hit_at, expires_at)
        SELECT :key, :now, :now + :expiry FROM n
        WHERE (
            SELECT count(*) FROM rate_limit_hits WHERE key = :key AND hit_at > :now - :expiry
        ) + :amount <= :limit
    """
    # The newest `limit` entries still inside the window: how many, and when the oldest of
    # them leaves it (then the window has room again).
    WINDOW_SQL = """
        SELECT min(hit_at), count(*) FROM (
            SELECT hit_at FROM rate_limit_hits WHERE key = {mark} AND hit_at > {mark}
            ORDER BY hit_at DESC LIMIT {mark}
        ) AS window_entries
    """
    SWEEP_SQL = "DELETE FROM rate_limit_hits WHERE expires_at < {mark}"

    def __init__(self, settings: Settings) -> None:
        super().__init__(wrap_exceptions=True)
        self._settings = settings
        self._connection = OwnConnection(settings, timeout=STORE_TIMEOUT_SECONDS, name="ratelimit")
        mark = self._connection.placeholder
        self._window_sql = self.WINDOW_SQL.format(mark=mark)
        self._sweep_sql = self.SWEEP_SQL.format(mark=mark)
        self._swept_at = 0.0

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (sqlite3.Error, psycopg2.Error)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        params = {"key": _digest(key), "now": now, "expiry": expiry, "amount": amount, "limit": limit}

        def insert(connection: Any) -> int:
            cursor = connection.cursor()
            try:
                if self._settings.is_sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                    try:
                        before = connection.total_changes
                        cursor.execute(self.SQLITE_ACQUIRE_SQL, params)
                        # sqlite3's rowcount is -1 for a statement that starts with WITH.
                        inserted = connection.total_changes - before
                        if now - self._swept_at > SWEEP_EVERY_SECONDS:
                            cursor.execute(self._sweep_sql, (now,))
                    except BaseException:
                        cursor.execute("ROLLBACK")
                        raise
                    cursor.execute("COMMIT")
                    return inserted
                # Autocommit: the statements of one call run as one transaction, so the
                # advisory lock covers the count and the insert (one round trip).
                cursor.execute(self.PG_ACQUIRE_SQL, {**params, "lock_class": self.PG_LOCK_CLASS})
                inserted = cursor.rowcount
                if now - self._swept_at > SWEEP_EVERY_SECONDS:
                    cursor.execute(self._sweep_sql, (now,))
                return inserted
            finally:
                cursor.close()

        inserted = self._run(insert)
        if now - self._swept_at > SWEEP_EVERY_SECONDS:
            self._swept_at = now
        return inserted > 0

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        row = self._fetchone(self._window_sql, (_digest(key), now - expiry, limit))
        if not row or not row[1]:
            return now, 0
        return float(row[0]), int(row[1])

    def clear(self, key: str) -> None:
        self._run(
            lambda c: self._execute(c, "DELETE FROM rate_limit_hits WHERE key = {mark}", (_digest(key),))
        )

    def reset(self) -> int | None:
        return self._run(lambda c: self._execute(c, "DELETE FROM rate_limit_hits", ()))

    def check(self) -> bool:
        try:
            return self._fetchone("SELECT 1", ()) == (1,)
        except Exception:  # noqa: BLE001 - `limits` asks for a yes or no
            return False

    # The fixed-window half of `limits`' storage interface: this store serves the moving
    # window only, and nothing here uses a fixed window.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("SQLStorage serves the moving window only")

    def get(self, key: str) -> int:
        raise NotImplementedError("SQLStorage serves the moving window only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("SQLStorage serves the moving window only")

    def _execute(self, connection: Any, sql: str, params: tuple) -> int:
        cursor = connection.cursor()
        try:
            cursor.execute(sql.format(mark="?" if self._settings.is_sqlite else "%s"), params)
            return cursor.rowcount
        finally:
            cursor.close()

    def _fetchone(self, sql: str, params: tuple) -> tuple | None:
        return self._connection.fetchone(sql, params)

    def _run(self, work: Callable[[Any], T]) -> T:
        return self._connection.run(work)

    def close(self) -> None:
        self._connection.close()


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
