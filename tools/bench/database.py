"""The run's database: a throw-away PostgreSQL database (or a SQLite file) and its seed."""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.bench import ROOT, BenchError
from tools.serverproc import pids_cpu_seconds

DUMMY = ROOT / "tools" / "dummy.py"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432"


@dataclass
class Database:
    url: str
    admin_url: str | None = None
    name: str | None = None
    _monitor: Any = None

    @classmethod
    def create_postgres(cls, server_url: str) -> Database:
        import psycopg2

        parts = urllib.parse.urlsplit(server_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise BenchError("the benchmark only talks to a PostgreSQL on this machine (127.0.0.1)")
        admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
        name = f"bl_bench_{os.getpid()}_{secrets.token_hex(3)}"
        try:
            conn = psycopg2.connect(admin_url, connect_timeout=5)
        except psycopg2.Error as exc:
            raise BenchError(f"cannot reach PostgreSQL at {server_url}: {str(exc).strip()}") from None
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return cls(
            url=urllib.parse.urlunsplit(parts._replace(path="/" + name)),
            admin_url=admin_url,
            name=name,
        )

    def drop(self) -> None:
        if not self.name:
            return
        import psycopg2

        if self._monitor is not None:
            self._monitor.close()
        conn = psycopg2.connect(self.admin_url, connect_timeout=5)
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        conn.close()

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:")

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection to the served database, in autocommit, closed afterwards."""
        if self.is_sqlite:
            import sqlite3

            conn = sqlite3.connect(self.url[len("sqlite:///") :], timeout=30, isolation_level=None)
        else:
            import psycopg2

            conn = psycopg2.connect(self.url, connect_timeout=5)
            conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def add_items(self, bucket: int, count: int) -> list[int]:
        """`count` new items in `bucket`: what a run of deletes deletes. (The service's triggers
        keep the bucket's counter; a --source older than them leaves it short, which only the
        `count` of its list answers shows.)"""
        stamp = "2020-01-01 00:00:00.000000"
        with self.connection() as conn:
            cursor = conn.cursor()
            if self.is_sqlite:
                cursor.execute(
                    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)"
                    " INSERT INTO items (name, description, done, bucket_id, created_at, modified_at)"
                    " SELECT 'Doomed ' || x, NULL, 0, ?, ?, ? FROM n RETURNING id",
                    (count, bucket, stamp, stamp),
                )
            else:
                cursor.execute(
                    "INSERT INTO items (name, description, done, bucket_id, created_at, modified_at)"
                    " SELECT 'Doomed ' || n, NULL, false, %s, %s, %s FROM generate_series(1, %s) AS n"
                    " RETURNING id",
                    (bucket, stamp, stamp, count),
                )
            # One statement in autocommit: all the rows or none.
            return sorted(row[0] for row in cursor.fetchall())

    def settle(self) -> None:
        """VACUUM ANALYZE (SQLite: ANALYZE): the tables as the last writes left them, their
        statistics fresh and no autovacuum pending, so that none of the servers measured next
        pays for the seeding's or the previous endpoint's writes (autovacuum runs as a backend
        of this database: its CPU would count as the next run's)."""
        with self.connection() as conn:
            conn.cursor().execute("ANALYZE" if self.is_sqlite else "VACUUM ANALYZE")

    def backend_cpu_seconds(self) -> float | None:
        """CPU used so far by the PostgreSQL backends serving this database (a local server).

        One monitoring connection is kept for the run: a shared server may be near its
        connection limit, and a figure we cannot read is not worth failing the run for.
        """
        if not self.name:
            return None
        import psycopg2

        try:
            if self._monitor is None or self._monitor.closed:
                self._monitor = psycopg2.connect(self.admin_url, connect_timeout=5)
                self._monitor.autocommit = True
            with self._monitor.cursor() as cursor:
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,))
                pids = [row[0] for row in cursor.fetchall()]
        except psycopg2.Error:
            return None
        return pids_cpu_seconds(pids)


def seeder_for(args: argparse.Namespace) -> Path:
    """The seeder that matches the served code: --source's own tools/dummy.py when it has one."""
    if args.seeder:
        return Path(args.seeder)
    if args.source and (Path(args.source) / "tools" / "dummy.py").exists():
        return Path(args.source) / "tools" / "dummy.py"
    return DUMMY


def seed(seeder: Path, email: str, password: str, buckets: int, items: int, env: dict) -> None:
    if not seeder.exists():
        raise BenchError(f"{seeder} (the seeder) is not there")
    command = [
        sys.executable,
        str(seeder),
        "--email",
        email,
        "--password",
        password,
        "--buckets",
        str(buckets),
        "--items",
        str(items),
        "--seed",
        "1",
        "--reset",
    ]
    print(f"seeding: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    done = subprocess.run(
        command,
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise BenchError(f"tools/dummy.py failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    print(f"seeded in {time.monotonic() - started:.1f}s", flush=True)
