"""A worker killed with SIGKILL in the middle of keyed creates, and clients that retry with
the same keys: exactly one bucket per key, on a real server with two workers.

Every answer the clients lose is a request the worker may or may not have committed. The
retry either replays it (it had committed: the row and its stored answer went in one
transaction) or, once the dead request's lease has run out, creates it (nothing had been
committed but the claim).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from helpers import children
from live_server import HOST, LiveServer, live_server

CLIENTS = 8
KEYS_PER_CLIENT = 40
# A worker is killed each time this many more keys are done (uvicorn starts a new one).
KILL_AT_CREATED = tuple(range(25, 300, 25))
LEASE_SECONDS = 2
GIVE_UP_SECONDS = 120


@pytest.fixture(params=["sqlite"] + (["postgres"] if os.environ.get("DATABASE_URL_TEST") else []))
def server(request, tmp_path) -> Iterator[LiveServer]:
    database_url = os.environ["DATABASE_URL_TEST"] if request.param == "postgres" else None
    env = {"BUCKETLIST_IDEMPOTENCY_LEASE": str(LEASE_SECONDS)}
    with live_server(tmp_path, database_url=database_url, workers=2, env=env) as running:
        yield running


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.created: dict[str, int] = {}  # key -> bucket id of its final answer
        self.lost = 0  # requests sent that got no answer
        self.replayed_after_loss = 0
        self.waited_for_lease = 0  # 409: the claim of a request that died with the worker
        self.unexpected: list[str] = []


def keyed_create(connection: http.client.HTTPConnection, token: str, key: str):
    """(status, raw body, headers) of `POST /v1/bucketlists` named and keyed `key`."""
    connection.request(
        "POST",
        "/v1/bucketlists",
        body=json.dumps({"name": key}),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    response = connection.getresponse()
    return response.status, response.read(), response.headers


def keyed_creates(server: LiveServer, token: str, client: int, tally: Tally, deadline: float) -> None:
    port = server.port
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    for n in range(KEYS_PER_CLIENT):
        key = f"client-{client}-create-{n}"
        lost_before = False
        while time.monotonic() < deadline:
            try:
                status, body, headers = keyed_create(connection, token, key)
            except (OSError, http.client.HTTPException):
                with tally.lock:
                    tally.lost += 1
                lost_before = True
                connection.close()  # the next request opens a new connection, to a live worker
                time.sleep(0.05)
                continue
            if status == 201:
                with tally.lock:
                    tally.created[key] = json.loads(body)["id"]
                    if lost_before and headers.get("Idempotent-Replayed") == "true":
                        tally.replayed_after_loss += 1
                break
            if status == 409:
                with tally.lock:
                    tally.waited_for_lease += 1
                time.sleep(int(headers.get("Retry-After", "1")))
                continue
            with tally.lock:
                tally.unexpected.append(f"{key}: {status} {body[:200]!r}")
            break
    connection.close()


def test_retries_after_a_killed_worker_leave_exactly_one_bucket_per_key(server: LiveServer):
    token = server.register()
    workers = children(server.process.pid)
    assert len(workers) == 2, workers
    tally = Tally()
    deadline = time.monotonic() + GIVE_UP_SECONDS
    clients = [
        threading.Thread(target=keyed_creates, args=(server, token, n, tally, deadline))
        for n in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    killed = 0
    for threshold in KILL_AT_CREATED:
        while len(tally.created) < threshold and time.monotonic() < deadline:
            time.sleep(0.002)
        alive = children(server.process.pid)
        if alive:
            os.kill(min(alive), signal.SIGKILL)  # in the middle of the clients' stream of creates
            killed += 1
    for client in clients:
        client.join()

    print(
        f"\nworkers killed {killed}, keys {CLIENTS * KEYS_PER_CLIENT}, answers lost {tally.lost},"
        f" replayed after a loss {tally.replayed_after_loss},"
        f" 409 while a dead request's lease ran {tally.waited_for_lease}"
    )
    assert tally.unexpected == []
    assert len(tally.created) == CLIENTS * KEYS_PER_CLIENT
    assert killed == len(KILL_AT_CREATED)
    assert tally.lost >= killed  # each kill cut requests off
    ids = sorted(tally.created.values())
    assert len(set(ids)) == len(ids)  # no two keys share a bucket
    # Exactly one row per key: the user's buckets are these, and no more.
    status, listing = server.request("GET", "/bucketlists?limit=1", token=token)
    assert status == 200
    assert listing["count"] == CLIENTS * KEYS_PER_CLIENT
    names = set()
    page = 1
    while True:
        status, listing = server.request("GET", f"/bucketlists?limit=100&page={page}", token=token)
        names |= {bucket["name"] for bucket in listing["buckets"]}
        if not listing["next"]:
            break
        page += 1
    assert names == set(tally.created)


def user_id_of(token: str) -> int:
    import jwt

    return int(jwt.decode(token, options={"verify_signature": False})["sub"])


def wait_for(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.skipif(not os.environ.get("DATABASE_URL_TEST"), reason="holds a PostgreSQL row lock")
@pytest.mark.parametrize("held_lease", [10], ids=["postgres"])
def test_a_worker_killed_between_its_claim_and_its_commit(tmp_path, held_lease):
    """Deterministic: the request is held inside its transaction (by a lock on the user's row,
    which the bucket counter's UPDATE needs) when both workers are killed."""
    import psycopg2

    database_url = os.environ["DATABASE_URL_TEST"]
    env = {"BUCKETLIST_IDEMPOTENCY_LEASE": str(held_lease)}
    with live_server(tmp_path, database_url=database_url, workers=2, env=env) as server:
        token = server.register()
        user = user_id_of(token)
        holder, observer = psycopg2.connect(database_url), psycopg2.connect(database_url)
        observer.autocommit = True
        try:
            with holder.cursor() as cursor:
                # NO KEY UPDATE: the claim's foreign key check (KEY SHARE) passes, the counter waits.
                cursor.execute("SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (user,))
            outcome: list = []

            def post() -> None:
                outcome.append(server_request(server, token, "held"))

            sender = threading.Thread(target=post)
            sender.start()

            def claimed_and_waiting() -> bool:
                with observer.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM idempotency_keys WHERE user_id = %s AND status IS NULL", (user,)
                    )
                    claimed = cursor.fetchone()[0] == 1
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND application_name = 'bucketlist'"
                        " AND wait_event_type = 'Lock'"
                    )
                    return claimed and cursor.fetchone()[0] >= 1

            wait_for(claimed_and_waiting, "the request to hold its claim and wait inside its transaction")
            for worker in children(server.process.pid):
                os.kill(worker, signal.SIGKILL)
            sender.join()
            holder.rollback()
            assert outcome == ["no answer"]

            wait_for(lambda: len(children(server.process.pid)) == 2, "uvicorn to start new workers")
            retried = wait_for_answer(server, token, "held")
            assert retried[0] == 409, retried  # the dead request's claim holds until its lease ends
            assert retried[1]["message"] == "A request with this Idempotency-Key is in progress"
            assert 1 <= int(retried[2]["Retry-After"]) <= held_lease
            assert server.request("GET", "/bucketlists", token=token)[1]["count"] == 0  # nothing committed

            time.sleep(int(retried[2]["Retry-After"]) + 0.5)
            created = server_request(server, token, "held")
            assert created[0] == 201 and created[2].get("Idempotent-Replayed") is None, created
            replayed = server_request(server, token, "held")
            assert replayed[0] == 201 and replayed[2]["Idempotent-Replayed"] == "true"
            assert replayed[1] == created[1]
            assert server.request("GET", "/bucketlists", token=token)[1]["count"] == 1
        finally:
            holder.close()
            observer.close()


def server_request(server: LiveServer, token: str, key: str):
    """(status, body, headers) of a keyed create, or "no answer"."""
    port = server.port
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        status, body, headers = keyed_create(connection, token, key)
        return status, json.loads(body), headers
    except (OSError, http.client.HTTPException):
        return "no answer"
    finally:
        connection.close()


def wait_for_answer(server: LiveServer, token: str, key: str):
    """The first answer from a worker (the new workers may still be starting)."""
    for _ in range(100):
        answer = server_request(server, token, key)
        if answer != "no answer":
            return answer
        time.sleep(0.1)
    raise AssertionError("no worker answered")
