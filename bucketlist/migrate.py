"""Schema migrations: plain SQL files, one set per dialect, applied by yoyo-migrations.

The files live in `bucketlist/migrations/<dialect>/NNNN_name.sql` (yoyo's format: a
`-- depends: NNNN_previous` line, statements separated by semicolons). Pony maps onto the
tables they make; it never creates or alters a table itself.

Applying takes yoyo's lock (a row in its lock table, in the database itself), so several
instances starting at once against one database apply each migration exactly once: the
others wait, then find nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

from yoyo import get_backend, read_migrations
from yoyo.exceptions import LockTimeout

from .config import ConfigurationError, Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# yoyo's own bookkeeping tables get a prefix of ours, beside the service's tables.
MIGRATION_TABLE = "_yoyo_migration"
CONNECT_TIMEOUT_SECONDS = 5
# Long enough for another instance to apply every migration (an index on a large table).
LOCK_TIMEOUT_SECONDS = 600


class MigrationError(Exception):
    """The schema could not be brought up to date; the message is one line for the operator."""


def dialect_of(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgresql"


def backend_uri(settings: Settings) -> str:
    if settings.is_sqlite:
        return "sqlite:///" + settings.sqlite_path()
    params = settings.postgres_params()
    user = quote(params.get("user", ""), safe="")
    password = quote(params.get("password", ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = params.get("host", "")
    port = f":{params['port']}" if params.get("port") else ""
    query = urlencode({"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "bucketlist-migrate"})
    return f"postgresql://{credentials}{host}{port}/{quote(params['database'], safe='')}?{query}"


def _migrations(settings: Settings):
    return read_migrations(str(MIGRATIONS_DIR / dialect_of(settings)))


def _backend(settings: Settings):
    try:
        return get_backend(backend_uri(settings), migration_table=MIGRATION_TABLE)
    except ConfigurationError:
        raise
    except Exception as exc:  # noqa: BLE001 - any driver error: one line for the operator
        raise MigrationError(f"cannot open the database: {_first_line(exc)}") from exc


def pending(settings: Settings) -> list[str]:
    """The ids of the migrations not yet applied, in the order they would be."""
    backend = _backend(settings)
    try:
        return [m.id for m in backend.to_apply(_migrations(settings))]
    except Exception as exc:  # noqa: BLE001 - any driver error: one line for the operator
        raise MigrationError(f"cannot read the applied migrations: {_first_line(exc)}") from exc
    finally:
        backend.connection.close()


def apply(
    settings: Settings,
    report: Callable[[str], None] = print,
    lock_timeout: int = LOCK_TIMEOUT_SECONDS,
) -> list[str]:
    """Apply every pending migration under the database's migration lock; their ids."""
    backend = _backend(settings)
    applied: list[str] = []
    try:
        with backend.lock(timeout=lock_timeout):
            # Read under the lock: another instance may have applied some meanwhile.
            for migration in backend.to_apply(_migrations(settings)):
                report(f"applying migration {migration.id}")
                backend.apply_one(migration)
                applied.append(migration.id)
    except LockTimeout as exc:
        raise MigrationError(f"another process holds the migration lock: {_first_line(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - a failed migration is rolled back; say which
        done = f" (applied: {', '.join(applied)})" if applied else ""
        raise MigrationError(f"migration failed{done}: {_first_line(exc)}") from exc
    finally:
        backend.connection.close()
    return applied


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
