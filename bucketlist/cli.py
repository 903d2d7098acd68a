"""`bucketlist serve`: create the schema once, then serve with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from .config import ConfigurationError, Settings
from .models import bind_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bucketlist", description="The Bucketlist API.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (creating the schema when needed)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        # Once, here, before any worker: workers creating tables at the same time race
        # on PostgreSQL. This also generates the SQLite default's key before they read it.
        settings.resolved_secret_key()
        bind_database(settings, create_tables=True).disconnect()
    except ConfigurationError as exc:
        print(f"bucketlist: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator, not a traceback
        print(f"bucketlist: cannot open the database: {exc}".splitlines()[0], file=sys.stderr)
        return 2

    uvicorn.run(
        "bucketlist.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
        # The app applies X-Forwarded-For itself (BUCKETLIST_FORWARDED_ALLOW_IPS, see app.py).
        proxy_headers=False,
        log_level="info",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
