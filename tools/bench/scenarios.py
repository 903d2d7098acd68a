"""What each endpoint is sent, found through the API, and the check that every server answers alike."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from tools.bench import BenchError
from tools.bench.database import Database
from tools.bench.wrk import Request, Scenario
from tools.serverproc import HOST

# bcrypt at production cost makes login a few requests a second: 32 connections would
# only queue behind it and time out. Fewer connections, a longer timeout.
LOGIN_CONNECTIONS = 4
LOGIN_TIMEOUT = "10s"
LOGIN_MIN_SECONDS = 10  # a few bcrypt rounds' worth even in --quick
# Deletes each need an item of their own: this many a second of a run, made before it.
DELETES_PER_SECOND = 3_000
# Fields that differ between two answers that are the same: the new row's id and its clock.
VOLATILE = {"id", "createdAt", "modifiedAt"}


class Client:
    """Small keep-alive JSON client for setting up (and timing single requests)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.token = token
        self.location: str | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        self.location = response.getheader("Location")
        return response.status, response.read()

    def json(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        status, raw = self.call(method, path, body)
        if status != expect:
            raise BenchError(f"{method} {path} answered {status}, not {expect}: {raw[:300]!r}")
        return json.loads(raw)

    def close(self) -> None:
        self.conn.close()


def login(port: int, email: str, password: str) -> str:
    client = Client(port)
    try:
        return client.json("POST", "/v1/auth/login", {"email": email, "password": password})["auth_token"]
    finally:
        client.close()


@dataclass
class Dataset:
    """What the requests point at, discovered through the API."""

    bucket_ids: list[int]
    bucket_count: int
    items_bucket: int
    items_count: int
    item_ids: list[int]
    write_bucket: int
    delete_bucket: int
    q: str

    @property
    def deep_page(self) -> int:
        return max(1, -(-self.items_count // 20))


def discover(port: int, token: str) -> Dataset:
    client = Client(port, token)
    try:
        # A bucket of its own for the deletes' items (made fresh before each run).
        delete_bucket = client.json("POST", "/v1/bucketlists", {"name": "Bench deletes"}, 201)["id"]
        first = client.json("GET", "/v1/bucketlists?limit=100")
        bucket_ids = [b["id"] for b in first["buckets"] if b["id"] != delete_bucket]
        if not bucket_ids:
            raise BenchError("the seeded user has no buckets")
        sizes = {
            bid: client.json("GET", f"/v1/bucketlists/{bid}/items?limit=1")["count"] for bid in bucket_ids
        }
        items_bucket = max(bucket_ids, key=lambda bid: (sizes[bid], -bid))
        if sizes[items_bucket] == 0:
            raise BenchError("the seeded buckets have no items")
        item_ids, names = [], []
        for page in range(1, 11):
            body = client.json("GET", f"/v1/bucketlists/{items_bucket}/items?limit=100&page={page}")
            item_ids += [i["id"] for i in body["items"]]
            names += [i["name"] for i in body["items"]]
            if body["next"] is None:
                break
        write_bucket = next((bid for bid in bucket_ids if bid != items_bucket), items_bucket)
        return Dataset(
            bucket_ids=bucket_ids,
            bucket_count=first["count"],
            items_bucket=items_bucket,
            items_count=sizes[items_bucket],
            item_ids=item_ids,
            write_bucket=write_bucket,
            delete_bucket=delete_bucket,
            q=common_word(names),
        )
    finally:
        client.close()


def common_word(names: list[str]) -> str:
    """A word that several item names share, so that `q` keeps a fair part of the bucket."""
    counts: dict[str, int] = {}
    for name in names:
        for word in set(re.findall(r"[a-z]{4,}", name.lower())):
            counts[word] = counts.get(word, 0) + 1
    if not counts:
        return "a"
    target = len(names) / 10  # about a tenth of the bucket: a realistic search
    return min(sorted(counts), key=lambda w: abs(counts[w] - target))


def deletes(db: Database, bucket: int) -> Callable[[int], list[Request]]:
    def prepare(seconds: int) -> list[Request]:
        ids = db.add_items(bucket, max(5_000, DELETES_PER_SECOND * seconds))
        return [("DELETE", f"/v1/bucketlists/{bucket}/items/{i}", None) for i in ids]

    return prepare


# The endpoints every server answers: measured in rounds alternating service and baselines.
WITH_BASELINES = (
    "list_buckets",
    "list_items",
    "deep_page",
    "list_items_q",
    "get_item",
    "create_item",
    "update_item",
    "delete_item",
)
ALL = (*WITH_BASELINES, "login")


def scenarios(data: Dataset, db: Database, token: str, email: str, password: str) -> dict[str, Scenario]:
    auth = {"Authorization": f"Bearer {token}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    items = f"/v1/bucketlists/{data.items_bucket}/items"
    q = urllib.parse.quote(data.q)
    sample = data.item_ids[:1000]
    body = {"name": "Benchmark item", "description": "Written by python -m tools.bench"}
    return {
        "list_buckets": Scenario(
            "list_buckets",
            "list buckets (page 1, limit 20)",
            [("GET", "/v1/bucketlists?page=1&limit=20", None)],
            auth,
        ),
        "list_items": Scenario(
            "list_items",
            f"list items (page 1 of {data.items_count})",
            [("GET", f"{items}?page=1&limit=20", None)],
            auth,
        ),
        "deep_page": Scenario(
            "deep_page",
            f"list items, page {data.deep_page} (last)",
            [("GET", f"{items}?page={data.deep_page}&limit=20", None)],
            auth,
        ),
        "list_items_q": Scenario(
            "list_items_q",
            f"list items, q={data.q}",
            [("GET", f"{items}?q={q}&limit=20", None)],
            auth,
        ),
        "get_item": Scenario(
            "get_item",
            "get one item",
            [("GET", f"{items}/{i}", None) for i in sample],
            auth,
        ),
        "create_item": Scenario(
            "create_item",
            "create item",
            [("POST", f"/v1/bucketlists/{data.write_bucket}/items", json.dumps(body))],
            json_auth,
        ),
        "update_item": Scenario(
            "update_item",
            "update item (PUT, random of ~1000)",
            [("PUT", f"{items}/{i}", json.dumps({"done": n % 2 == 0})) for n, i in enumerate(sample)],
            json_auth,
        ),
        "delete_item": Scenario(
            "delete_item",
            "delete item (each once)",
            [],
            auth,
            prepare=deletes(db, data.delete_bucket),
        ),
        "login": Scenario(
            "login",
            f"login (bcrypt, {LOGIN_CONNECTIONS} connections)",
            [("POST", "/v1/auth/login", json.dumps({"email": email, "password": password}))],
            {"Content-Type": "application/json"},
            connections=LOGIN_CONNECTIONS,
            timeout=LOGIN_TIMEOUT,
            min_seconds=LOGIN_MIN_SECONDS,
        ),
    }


# --------------------------------------------------------------------------- same answers


@dataclass
class Answer:
    status: int
    body: str  # with the server's own host:port made "HOST"
    location: str | None


def ask(port: int, token: str, method: str, path: str, body: dict | None = None) -> Answer:
    client = Client(port, token)
    try:
        status, raw = client.call(method, path, body)
    finally:
        client.close()
    location = client.location
    own = f"{HOST}:{port}"
    return Answer(status, raw.decode().replace(own, "HOST"), location and location.replace(own, "HOST"))


# The service's next/previous links also carry a signed keyset cursor (the baselines page by
# number only): compared without it.
CURSOR_IN_LINK = re.compile(r"&cursor=[A-Za-z0-9_.-]+")


def compare(mine: Answer, theirs: Answer, volatile: bool = False) -> tuple[bool, str]:
    """Same status and bytes (or JSON; with `volatile`, less the new row's id and clock)."""
    if mine.status != theirs.status:
        return False, f"status {mine.status} against {theirs.status}: {theirs.body[:200]}"
    if mine.body == theirs.body and not volatile:
        return True, "identical bytes"
    if CURSOR_IN_LINK.sub("", mine.body) == theirs.body and not volatile:
        return True, "identical bytes but for the links' cursor"
    left, right = json.loads(mine.body), json.loads(theirs.body)
    if volatile:
        left, right = _without_volatile(left), _without_volatile(right)
        if (mine.location is None) != (theirs.location is None):
            return False, f"Location {mine.location!r} against {theirs.location!r}"
        if mine.location and re.sub(r"\d+$", "N", mine.location) != re.sub(r"\d+$", "N", theirs.location):
            return False, f"Location {mine.location!r} against {theirs.location!r}"
    if left == right:
        return True, "same JSON" + (
            f" but for {', '.join(sorted(VOLATILE))}" if volatile else ", other bytes"
        )
    return False, f"service {mine.body[:300]} ... baseline {theirs.body[:300]}"


def _without_volatile(value):
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def same_answers(ports: dict[str, int], token: str, data: Dataset, db: Database) -> dict[str, dict]:
    """Every endpoint, asked of every server in turn: does each baseline answer as the service does?

    Reads are compared byte for byte. Writes are made once on each server (create, the
    same update, a delete of an item of each server's own), and compared less the new
    row's id and timestamps. Also a refusal: an item of a bucket that is not there.
    """
    items = f"/v1/bucketlists/{data.items_bucket}/items"
    item = data.item_ids[0]
    reads = {
        "list_buckets": "/v1/bucketlists?page=1&limit=20",
        "list_items": f"{items}?page=1&limit=20",
        "deep_page": f"{items}?page={data.deep_page}&limit=20",
        "list_items_q": f"{items}?q={urllib.parse.quote(data.q)}&limit=20",
        "get_item": f"{items}/{item}",
        "missing_bucket": f"/v1/bucketlists/{2**31 - 1}/items/{item}",
    }
    results: dict[str, dict] = {}
    answers: dict[str, dict[str, Answer]] = {name: {} for name in [*reads, "create_item", "update_item"]}
    answers["delete_item"] = {}
    doomed = iter(db.add_items(data.delete_bucket, len(ports)))
    for server, port in ports.items():
        for name, path in reads.items():
            answers[name][server] = ask(port, token, "GET", path)
    # Writes after every read: the update renames an item that the lists show.
    for server, port in ports.items():
        answers["create_item"][server] = ask(
            port,
            token,
            "POST",
            f"/v1/bucketlists/{data.write_bucket}/items",
            {"name": "Same answer", "description": "Compared across servers", "done": True},
        )
        answers["update_item"][server] = ask(port, token, "PUT", f"{items}/{item}", {"name": "Renamed alike"})
        answers["delete_item"][server] = ask(
            port, token, "DELETE", f"/v1/bucketlists/{data.delete_bucket}/items/{next(doomed)}"
        )
    for name, by_server in answers.items():
        mine = by_server["service"]
        expected = 404 if name == "missing_bucket" else 201 if name == "create_item" else 200
        if mine.status != expected:
            raise BenchError(f"the service answered {name} with {mine.status}: {mine.body[:300]}")
        for server, theirs in by_server.items():
            if server == "service":
                continue
            ok, detail = compare(mine, theirs, volatile=name in ("create_item", "update_item"))
            results.setdefault(name, {})[server] = {"same_json": ok, "detail": detail}
    return results
