"""The three servers of a run as processes: the service, the Flask baseline, the raw ASGI one.

Starting, readiness, stopping and CPU accounting are `tools/serverproc.py`'s (shared with
the tests' live server); this module only says what each command is.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from tools.bench import ROOT, BenchError
from tools.serverproc import HOST, ServerError, ServerProcess, answers, free_port

BASELINES_DIR = ROOT / "tools" / "bench" / "baselines"
BIN = Path(sys.executable).parent
WORKERS = 2
STARTUP_SECONDS = 60
PORT_ATTEMPTS = 3


class Server(ServerProcess):
    """A named server whose command may hold `{port}`; up once `ready_path` answers (even 401)."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        workdir: Path,
        *,
        ready_path: str,
        cwd: Path = ROOT,
    ) -> None:
        super().__init__(command, env=env, cwd=cwd, log_path=workdir / f"{name}.log", port=0)
        self.name = name
        self.template = command
        self.ready_path = ready_path

    @property
    def base_url(self) -> str:
        return self.origin

    def start_serving(self) -> None:
        for _attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            self.command = [part.replace("{port}", str(self.port)) for part in self.template]
            # A 401 is an answer: the baselines' ready path needs a token.
            ready = functools.partial(answers, self.origin + self.ready_path, any_status=True)
            try:
                self.start(ready, STARTUP_SECONDS)
                return
            except ServerError as exc:
                if not self.port_was_taken():
                    raise BenchError(f"{self.name}: {exc}") from None
        raise BenchError(f"{self.name}: no free port after {PORT_ATTEMPTS} attempts:\n{self.tail()}")


def service_env(database_url: str, secret: str, source: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, SECRET_KEY=secret, PYTHONUNBUFFERED="1")
    if source:
        # Another checkout's `bucketlist` package (say, `git archive` of an older commit)
        # comes first on the path, ahead of this virtualenv's editable install.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(source).resolve()), env.get("PYTHONPATH")])
        )
    return env


def service_server(
    database_url: str, secret: str, workdir: Path, source: str | None, workers: int = WORKERS
) -> Server:
    """The service as production runs it: `bucketlist serve`, several workers."""
    command = [sys.executable, "-m", "bucketlist.cli", "serve", "--host", HOST, "--port", "{port}"]
    return Server(
        "service",
        [*command, "--workers", str(workers)],
        service_env(database_url, secret, source),
        workdir,
        ready_path="/v1/openapi.json",
        # Not the repository: `python -m` puts its working directory first on the path,
        # which would shadow --source.
        cwd=workdir,
    )


def flask_worker_options(worker_class: str) -> list[str]:
    """gunicorn's worker model for the Flask baseline.

    sync (gunicorn's default, as the 2017 service ran): one request per connection, so the
    kernel hands every request to whichever worker is free. gthread keeps connections
    alive, and which worker holds how many of wrk's 32 is decided once, at connect time:
    runs measured 20/12 or 10/22 splits, and req/s that jumped between about 1,000 and
    1,700 from one round to the next.
    """
    if worker_class == "sync":
        return ["--worker-class", "sync"]
    return ["--worker-class", "gthread", "--threads", "4"]


def make_servers(
    database_url: str,
    secret: str,
    workdir: Path,
    source: str | None,
    flask_workers: str = "sync",
    workers: int = WORKERS,
) -> dict[str, Server]:
    """The service and the baselines (no raw ASGI one on SQLite: asyncpg is PostgreSQL's)."""
    env = service_env(database_url, secret)
    servers = {
        "service": service_server(database_url, secret, workdir, source, workers),
        "flask": Server(
            "flask",
            [
                str(BIN / "gunicorn"),
                "--workers",
                str(workers),
                *flask_worker_options(flask_workers),
                "--bind",
                f"{HOST}:{{port}}",
                "--chdir",
                str(BASELINES_DIR),
                "--no-control-socket",
                "--log-level",
                "warning",
                "flask_baseline:app",
            ],
            env,
            workdir,
            ready_path="/v1/bucketlists",
        ),
    }
    if not database_url.startswith("sqlite:"):
        servers["asgi"] = Server(
            "asgi",
            [
                str(BIN / "uvicorn"),
                "--host",
                HOST,
                "--port",
                "{port}",
                "--workers",
                str(workers),
                "--no-access-log",
                "--log-level",
                "warning",
                "--app-dir",
                str(BASELINES_DIR),
                "asgi_baseline:app",
            ],
            env,
            workdir,
            ready_path="/v1/bucketlists",
        )
    return servers
