"""`bucketlist serve`: wait for the database, create the schema once, then serve (server.py)."""

from __future__ import annotations

import argparse
import logging
import sys

from . import server
from .config import ConfigurationError, Settings
from .models import bind_database

logger = logging.getLogger("bucketlist")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bucketlist", description="The Bucketlist API.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (creating the schema when needed)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=_positive, default=1, help="server processes (default 1)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our own notices; not the libraries' (connexion logs every 401 at INFO: a third more
    # CPU per refused request). Workers are forked, so this holds in them too.
    logger.setLevel(logging.INFO)
    try:
        settings = Settings.from_env()
        # Once, here, before any worker: workers creating tables at the same time race
        # on PostgreSQL. This also generates the SQLite default's key before they read it.
        settings.resolved_secret_key()
        server.wait_for_database(settings, report=logger.warning)
        bind_database(settings, create_tables=True).disconnect()
    except (ConfigurationError, server.DatabaseUnavailable) as exc:
        print(f"bucketlist: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator, not a traceback
        print(f"bucketlist: cannot open the database: {exc}".splitlines()[0], file=sys.stderr)
        return 2

    try:
        return server.serve(
            settings,
            host=args.host,
            port=args.port,
            workers=args.workers,
            uvicorn_options={"access_log": args.access_log, "log_level": "info"},
        )
    except OSError as exc:
        print(f"bucketlist: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
