"""Start `bucketlist serve` as a real process on a free loopback port, and stop it again.

Used by the tests that need a live server (the generated client, the docs page in a
browser; they import it as `live_server`, see `tests/live_server.py`) and by `tools/fuzz.py`.
Starting, readiness and stopping are `tools/serverproc.py`'s, shared with the benchmark.
The server runs on a fresh SQLite file in `workdir` unless `database_url` (for example
`DATABASE_URL` from the environment) says otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tools.serverproc import HOST, ServerError, ServerProcess, answers, free_port, log_tail

__all__ = ["HOST", "LiveServer", "ServerError", "free_port", "live_server"]

START_TIMEOUT_SECONDS = 30.0
# A port picked free can be taken by someone else before the server binds it: try again.
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class LiveServer:
    origin: str  # http://127.0.0.1:PORT
    log_path: Path
    process: subprocess.Popen  # the supervisor: its workers are its children

    @property
    def port(self) -> int:
        return int(self.origin.rsplit(":", 1)[1])

    @property
    def api(self) -> str:
        """The base URL of the API, the spec's `servers[0].url` made absolute."""
        return f"{self.origin}/v1"

    def request(
        self, method: str, path: str, body: dict | None = None, token: str | None = None
    ) -> tuple[int, dict]:
        """One JSON request to the API (`path` below /v1), with the standard library only."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api}{path}", data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    def register(self, email: str | None = None, password: str | None = None) -> str:
        """Register a new user and return its token."""
        email = email or f"live-{secrets.token_hex(6)}@bucketmail.com"
        password = password or secrets.token_urlsafe(12)
        status, body = self.request("POST", "/auth/register", {"email": email, "password": password})
        if status != 201:
            raise ServerError(f"register answered {status}: {body}")
        return body["auth_token"]


def server_env(workdir: Path, database_url: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url or f"sqlite:///{workdir / 'bucketlist.sqlite3'}"
    if not env["DATABASE_URL"].startswith("sqlite:") and not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = secrets.token_urlsafe(48)
    env.setdefault("BUCKETLIST_BCRYPT_ROUNDS", "4")  # about 1 ms a hash instead of 440 ms
    env.update(extra or {})
    return env


@contextmanager
def live_server(
    workdir: Path,
    *,
    database_url: str | None = None,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[LiveServer]:
    """Serve the API until the block ends; `workdir` holds the SQLite file and the log."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "server.log"
    environment = server_env(workdir, database_url, env)
    for _attempt in range(PORT_ATTEMPTS):
        port = free_port()
        command = [sys.executable, "-m", "bucketlist.cli", "serve", "--host", HOST, "--port", str(port)]
        command += ["--workers", str(workers)]
        server = ServerProcess(command, env=environment, cwd=workdir, log_path=log_path, port=port)
        try:
            try:
                server.start(partial(answers, f"{server.origin}/v1/openapi.json"), START_TIMEOUT_SECONDS)
            except ServerError:
                if server.port_was_taken():
                    continue
                raise
            yield LiveServer(origin=server.origin, log_path=log_path, process=server.process)
            return
        finally:
            server.stop()
    raise ServerError(f"no free port after {PORT_ATTEMPTS} attempts:\n{log_tail(log_path)}")
