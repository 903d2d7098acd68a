"""Fuzz a live server with the schemathesis CLI: `make fuzz ARGS="--max-examples 500 --seed 1"`.

Starts `bucketlist serve` on a free loopback port (a temporary SQLite file, or
DATABASE_URL when it is set), runs `schemathesis run` against its /v1/openapi.json with
every default check and phase, writes a JUnit report, stops the server, and exits with
schemathesis' status: non-zero on any failure. Arguments after `--` go to schemathesis
unchanged, e.g. `-- --phases fuzzing --max-time 600`.

Each run registers its own users (see tools/fuzz_hooks.py), so a PostgreSQL database
already holding data is fine, but it should not be one that matters.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (`python tools/fuzz.py`): the repository's root
    sys.path.insert(0, str(ROOT))

from tools.live_server import live_server  # noqa: E402 - importable once the root is on the path

DEFAULT_REPORT = ROOT / "reports" / "fuzz-junit.xml"
# No check is turned off: schemathesis runs all of its default checks and phases. One
# warning is made fatal: an operation that only ever answered 401 was not tested at all.
# The others (e.g. "missing test data" when random ids find nothing) stay warnings.
# Valid requests whose precondition fails are documented answers, not rejections: a generated
# If-Match names a tag the resource does not have (412), a generated Idempotency-Key can come
# back with another body (422). The rest of the default list is schemathesis' own.
SCHEMATHESIS_CONFIG = """\
[warnings]
fail-on = ["missing_auth"]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429", "5xx"]
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--max-examples", type=int, default=100, help="test cases per operation (100)")
    parser.add_argument(
        "--seed", type=int, help="random seed to reproduce a run (default: a new one, printed)"
    )
    parser.add_argument("--workers", default="1", help="concurrent schemathesis workers, or 'auto' (1)")
    parser.add_argument("--server-workers", type=int, default=1, help="server processes (1)")
    parser.add_argument(
        "--report", type=Path, default=DEFAULT_REPORT, help="JUnit file (reports/fuzz-junit.xml)"
    )
    parser.add_argument(
        "schemathesis_args", nargs=argparse.REMAINDER, help="after `--`: schemathesis options"
    )
    args = parser.parse_args(argv)
    if args.schemathesis_args[:1] == ["--"]:
        args.schemathesis_args = args.schemathesis_args[1:]
    return args


def schemathesis_command(args: argparse.Namespace, schema_url: str, config_file: Path) -> list[str]:
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config_file), "run"]
    command += [schema_url, "--max-examples", str(args.max_examples), "--workers", str(args.workers)]
    command += ["--report", "junit", "--report-junit-path", str(args.report)]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    return command + args.schemathesis_args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.report = args.report.resolve()
    args.report.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bucketlist-fuzz-") as tmp:
        workdir = Path(tmp)
        config_file = workdir / "schemathesis.toml"
        config_file.write_text(SCHEMATHESIS_CONFIG)
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "fuzz_hooks",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tools"), os.environ.get("PYTHONPATH")])),
        }
        database_url = os.environ.get("DATABASE_URL")
        with live_server(workdir, database_url=database_url, workers=args.server_workers) as server:
            print(f"fuzz: serving on {server.origin} (log: {server.log_path})", flush=True)
            command = schemathesis_command(args, f"{server.api}/openapi.json", config_file)
            # In the temporary folder: schemathesis keeps its caches in the working directory.
            returncode = subprocess.run(command, check=False, env=env, cwd=workdir).returncode
        # Kept beside the report: a 5xx is easier to diagnose with the server's traceback.
        server_log = args.report.with_name("fuzz-server.log")
        server_log.write_bytes(server.log_path.read_bytes())
    print(f"fuzz: JUnit report in {args.report}, server log in {server_log}", flush=True)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
