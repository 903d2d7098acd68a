"""`bucketlist serve` (wait for the database, migrate once, then serve: server.py) and
`bucketlist migrate`."""

from __future__ import annotations

import argparse
import logging
import sys

from . import migrate, server
from .config import ConfigurationError, Settings

EXIT_PENDING = 1  # `migrate --check`: migrations are pending
EXIT_REFUSED = 2  # one clear line on stderr: bad configuration, no database, refused to start

logger = logging.getLogger("bucketlist")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bucketlist", description="The Bucketlist API.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (applying pending migrations first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=_positive, default=1, help="server processes (default 1)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="refuse to start (exit 2) if any migration is pending, instead of applying it",
    )
    check = commands.add_parser("migrate", help="apply pending schema migrations, printing each")
    check.add_argument(
        "--check", action="store_true", help="apply nothing; exit 1 if any migration is pending"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our own notices; not the libraries' (connexion logs every 401 at INFO: a third more
    # CPU per refused request). Workers are forked, so this holds in them too.
    logger.setLevel(logging.INFO)
    try:
        settings = Settings.from_env()
        if args.command == "migrate":
            return _migrate(settings, check_only=args.check)
        # Once, here, before any worker: workers migrating at the same time would race. This
        # also generates the SQLite default's key before they read it.
        settings.resolved_secret_key()
        server.wait_for_database(settings, report=logger.warning)
        if args.no_migrate:
            waiting = migrate.pending(settings)
            if waiting:
                return _refuse(
                    f"{len(waiting)} migration(s) pending ({', '.join(waiting)}): run `bucketlist migrate`"
                )
        else:
            migrate.apply(settings, report=_say)
    except (ConfigurationError, server.DatabaseUnavailable, migrate.MigrationError) as exc:
        return _refuse(str(exc))

    try:
        return server.serve(
            settings,
            host=args.host,
            port=args.port,
            workers=args.workers,
            uvicorn_options={"access_log": args.access_log, "log_level": "info"},
        )
    except OSError as exc:
        return _refuse(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _migrate(settings: Settings, *, check_only: bool) -> int:
    if check_only:
        waiting = migrate.pending(settings)
        for migration_id in waiting:
            _say(f"pending migration {migration_id}")
        if waiting:
            return EXIT_PENDING
        _say("the schema is up to date")
        return 0
    if not migrate.apply(settings, report=_say):
        _say("the schema is up to date")
    return 0


def _say(line: str) -> None:
    print(f"bucketlist: {line}", flush=True)


def _refuse(line: str) -> int:
    print(f"bucketlist: {line}", file=sys.stderr, flush=True)
    return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
