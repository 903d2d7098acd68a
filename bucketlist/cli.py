"""`bucketlist serve`: create the schema once, then serve with uvicorn."""

from __future__ import annotations

import argparse
import logging
import logging.config
import sys

import uvicorn

from .config import LOG_FORMATS, ConfigurationError, Settings
from .logs import logging_config
from .metrics import prepare_multiprocess_dir, remove_multiprocess_dir
from .models import bind_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bucketlist", description="The Bucketlist API.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (creating the schema when needed)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.add_argument(
        "--log-format", choices=LOG_FORMATS, help="text or json (default: BUCKETLIST_LOG_FORMAT, else text)"
    )
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        log_config = logging_config(args.log_format or settings.log_format)
        logging.config.dictConfig(log_config)
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

    metrics_dir = prepare_multiprocess_dir(several_processes=args.workers > 1)
    try:
        uvicorn.run(
            "bucketlist.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            access_log=False,  # the service writes its own (bucketlist.observability)
            log_config=log_config,
            log_level="info",
        )
    finally:
        remove_multiprocess_dir(metrics_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
