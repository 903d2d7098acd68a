"""What the worst request bodies cost: each shape near the body limit, against a small valid request.

    python tools/abuse_bench.py [--runs 5] [--only unknown] [--pg-url URL]

Runs the service in-process (a fresh SQLite file unless --pg-url is given) and sends every
shape in `shapes()` through the ASGI test client. For each it prints the body size, the
status, how many `errors` entries came back, and the median over `--runs` of the time the
application took to answer (wall time from the request entering the ASGI app to the last
byte of the answer, and the CPU time of the thread that ran it: the event loop's, where
the body is parsed and validated and, by default, handlers run), and that CPU time as a
multiple of the first baseline's ("x base"). The baselines are measured in the same run: a
minimal valid request, and a valid one padded with white space to the size of the shapes,
which is what receiving 1 MiB costs anyway. On a shared machine wall time follows the load;
CPU time is the figure to compare.

`tests/test_abuse.py` sends the same shapes and bounds their time.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import secrets
import statistics
import string
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")

from starlette.testclient import TestClient  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

BUCKETS = "/v1/bucketlists"
MAX_LISTED = 20
DEFAULT_LIMIT = 1024 * 1024
# Room for the template around the filling, so that every shape stays under the limit.
MARGIN = 256


@dataclass(frozen=True)
class Shape:
    """A body sent to one operation; `problems` is how many a validation failure must count
    (None where the shape is refused before its fields are looked at)."""

    name: str
    method: str
    path: str  # {b} and {i}: the bucket and item of the signed-in user
    body: bytes
    problems: int | None = None
    message: str | None = None


# Each operation with a body, and a document it accepts.
TARGETS: dict[str, tuple[str, str, dict]] = {
    "register": ("POST", "/v1/auth/register", {"email": "new@bucketmail.com", "password": "secret"}),
    "login": ("POST", "/v1/auth/login", {"email": "a@b.org", "password": "xxxxxx"}),
    "reset password": (
        "POST",
        "/v1/auth/reset/password",
        {"oldPassword": "secret-password", "newPassword": "abcdef", "passwordConfirmation": "abcdef"},
    ),
    "create bucket": ("POST", BUCKETS, {"name": "Travel"}),
    "update bucket": ("PUT", BUCKETS + "/{b}", {"name": "Travel"}),
    "patch bucket": ("PATCH", BUCKETS + "/{b}", {"name": "Travel"}),
    "create item": ("POST", BUCKETS + "/{b}/items", {"name": "Walk"}),
    "update item": ("PUT", BUCKETS + "/{b}/items/{i}", {"name": "Walk"}),
    "patch item": ("PATCH", BUCKETS + "/{b}/items/{i}", {"done": True}),
}


def _repeat(unit: bytes, budget: int, head: bytes = b"", tail: bytes = b"", sep: bytes = b",") -> bytes:
    """head + unit, unit, ... + tail, as long as it fits in `budget`."""
    count = max(1, (budget - len(head) - len(tail) + len(sep)) // (len(unit) + len(sep)))
    return head + sep.join([unit] * count) + tail


def _count(unit: bytes, budget: int, head: bytes, tail: bytes, sep: bytes = b",") -> int:
    return max(1, (budget - len(head) - len(tail) + len(sep)) // (len(unit) + len(sep)))


@functools.cache
def _short_names(count: int = 200_000) -> tuple[str, ...]:
    """a, b, ..., 9, aa, ab, ...: the most distinct keys that fit in a body."""
    letters = string.ascii_letters + string.digits
    every = (
        "".join(chars) for length in itertools.count(1) for chars in itertools.product(letters, repeat=length)
    )
    return tuple(itertools.islice(every, count))


def _unknown_keys(document: dict, budget: int, drop: tuple[str, ...] = ()) -> tuple[bytes, int]:
    """`document` (without `drop`) followed by as many unknown keys as fit."""
    kept = {k: v for k, v in document.items() if k not in drop}
    head = json.dumps(kept).encode()[:-1] + (b"," if kept else b"")
    keys: list[bytes] = []
    size = len(head) + 1
    for name in _short_names():
        if name in document:
            continue
        key = b'"%s":0' % name.encode()
        if size + len(key) + 1 > budget:
            break
        keys.append(key)
        size += len(key) + 1
    return head + b",".join(keys) + b"}", len(keys)


def _value_shapes(budget: int) -> dict[str, tuple[bytes, int]]:
    """Values put where the name of a bucket belongs: (the JSON value, problems it makes)."""
    room = budget - 16
    digits = b"1" * 4299  # the most digits Python's int() reads by default
    return {
        "1 MB string": (b'"' + b"a" * room + b'"', 1),
        "1 MB of spaces": (b'"' + b" " * room + b'"', 1),
        "200 spaces then 1 MB": (b'"' + b" " * 200 + b"a" * (room - 200) + b'"', 1),
        "1 MB of \\u escapes": (_repeat(b"\\u00e9", room, b'"', b'"', b""), 1),
        "long array": (_repeat(b"0", room, b"[", b"]"), 1),
        "long array of strings": (_repeat(b'"a"', room, b"[", b"]"), 1),
        "long array of objects": (_repeat(b"{}", room, b"[", b"]"), 1),
        "an object of 95,000 keys": (b"{" + b",".join(b'"k%d":0' % n for n in range(room // 11)) + b"}", 1),
        "arrays nested 900 deep, repeated": (_repeat(b"[" * 900 + b"]" * 900, room, b"[", b"]"), 1),
        "huge integers": (_repeat(digits, room, b"[", b"]"), 1),
        "float of 1 MB of digits": (b"0." + b"1" * (room - 2), 1),
        "many lone surrogates": (_repeat(b'"\\ud800"', room, b"[", b"]"), 1),
        "surrogate pairs, one lone first": (_repeat(b'"\\ud83d\\ude00"', room, b'["\\udc00",', b"]"), 1),
    }


def shapes(max_bytes: int = DEFAULT_LIMIT) -> list[Shape]:
    budget = max_bytes - MARGIN
    found: list[Shape] = []
    for target, (method, path, document) in TARGETS.items():
        body, keys = _unknown_keys(document, budget)
        found.append(Shape(f"{target}: {keys:,} unknown keys", method, path, body, keys))
    method, path, document = TARGETS["login"]
    body, keys = _unknown_keys(document, budget, drop=("email", "password"))
    found.append(Shape(f"login: {keys:,} unknown keys, nothing required", method, path, body, keys + 2))
    method, path, document = TARGETS["create bucket"]
    body, keys = _unknown_keys(document, budget, drop=("name",))
    found.append(
        Shape(
            f"create bucket: {keys:,} unknown keys, no name",
            method,
            path,
            body,
            keys + 1,
            "Missing name attribute",
        )
    )
    long_key = b'{"name":"x","' + b"k" * (budget - 20) + b'":0}'
    found.append(Shape("create bucket: one unknown key of 1 MB", "POST", BUCKETS, long_key, 1))

    half = budget // 2
    found += [
        Shape("top level: arrays nested 500k deep", "POST", BUCKETS, b"[" * half + b"]" * half),
        Shape("top level: objects nested deep", "POST", BUCKETS, _nested_objects(budget)),
        Shape(
            "name: arrays nested 500k deep", "POST", BUCKETS, b'{"name":' + b"[" * half + b"]" * half + b"}"
        ),
        Shape("top level: long array", "POST", BUCKETS, _repeat(b"0", budget, b"[", b"]"), 1),
        Shape("top level: long array of objects", "POST", BUCKETS, _repeat(b"{}", budget, b"[", b"]"), 1),
        Shape("top level: 1 MB string", "POST", BUCKETS, b'"' + b"a" * budget + b'"', 1),
    ]
    for label, (value, problems) in _value_shapes(budget).items():
        found.append(Shape(f"name: {label}", "POST", BUCKETS, b'{"name":' + value + b"}", problems))
    room = budget - 64
    found += [
        Shape("login: email of 1 MB", "POST", "/v1/auth/login", _credentials(b'"' + b"a" * room + b'"'), 1),
        Shape(
            "login: email of 1 MB, @ at the end",
            "POST",
            "/v1/auth/login",
            _credentials(b'"' + b"a" * room + b'@"'),
            1,
        ),
        Shape(
            "login: password of 1 MB",
            "POST",
            "/v1/auth/login",
            b'{"email":"a@b.org","password":"' + b"a" * room + b'"}',
            1,
        ),
        Shape(
            "create item: description of 1 MB",
            "POST",
            BUCKETS + "/{b}/items",
            b'{"name":"x","description":"' + b"a" * room + b'"}',
            1,
        ),
        Shape(
            "create item: every field wrong, and 95,000 unknown keys",
            "POST",
            BUCKETS + "/{b}/items",
            *_every_field_wrong(budget),
        ),
        Shape(
            "create bucket: the same key 95,000 times",
            "POST",
            BUCKETS,
            _repeat(b'"name":"x"', budget, b"{", b"}"),
            1,
            "duplicate field 'name'",
        ),
        Shape(
            "create bucket: 75,000 objects, then a duplicate key",
            "POST",
            BUCKETS,
            _repeat(b'{"a":0,"b":1}', budget - 40, b'{"name":[', b'],"name":"x"}'),
            1,
            "duplicate field 'name'",
        ),
    ]
    return found


def _credentials(email: bytes) -> bytes:
    return b'{"email":' + email + b',"password":"xxxxxx"}'


def _nested_objects(budget: int) -> bytes:
    depth = budget // 7
    return b'{"a":' * depth + b"1" + b"}" * depth


def _every_field_wrong(budget: int) -> tuple[bytes, int]:
    head = b'{"name":[1],"description":{"a":1},"done":"yes",'
    keys = _count(b'"k00000":0', budget, head, b"}")
    body = head + b",".join(b'"k%05d":0' % n for n in range(keys)) + b"}"
    return body, keys + 3


# --- measuring ----------------------------------------------------------------------------


class Timed:
    """ASGI wrapper: how long the application took, from the request to its last byte out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.wall = 0.0
        self.cpu = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wall, cpu = time.perf_counter(), time.thread_time()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.wall = time.perf_counter() - wall
                self.cpu = time.thread_time() - cpu

        await self.app(scope, receive, timed_send)


@dataclass
class Session:
    client: TestClient
    timer: Timed
    headers: dict[str, str]
    bucket: int
    item: int

    def send(self, shape: Shape):
        path = shape.path.format(b=self.bucket, i=self.item)
        headers = {**self.headers, "Content-Type": "application/json"}
        return self.client.request(shape.method, path, content=shape.body, headers=headers)


def start(database_url: str) -> Session:
    from bucketlist import create_app
    from bucketlist.config import Settings

    settings = Settings(database_url=database_url, secret_key=secrets.token_urlsafe(48), bcrypt_rounds=4)
    timer = Timed(create_app(settings))
    client = TestClient(timer)
    client.__enter__()
    email = f"bench-{secrets.token_hex(4)}@bucketmail.com"
    answer = client.post("/v1/auth/register", json={"email": email, "password": "secret-password"})
    headers = {"Authorization": f"Bearer {answer.json()['auth_token']}"}
    bucket = client.post(BUCKETS, json={"name": "Travel"}, headers=headers).json()["id"]
    item = client.post(f"{BUCKETS}/{bucket}/items", json={"name": "Walk"}, headers=headers).json()["item"][
        "id"
    ]
    return Session(client, timer, headers, bucket, item)


def measure(session: Session, shape: Shape, runs: int) -> dict:
    walls, cpus = [], []
    for _ in range(runs):
        response = session.send(shape)
        walls.append(session.timer.wall)
        cpus.append(session.timer.cpu)
    errors = (
        response.json().get("errors", [])
        if response.headers.get("content-type", "").startswith("application/json")
        else []
    )
    return {
        "shape": shape.name,
        "bytes": len(shape.body),
        "status": response.status_code,
        "errors": len(errors),
        "answer_bytes": len(response.content),
        "ms": statistics.median(walls) * 1000,
        "cpu_ms": statistics.median(cpus) * 1000,
    }


def baselines(budget: int) -> list[Shape]:
    padded = b'{"name":"Travel"' + b" " * (budget - 20) + b"}"
    return [
        Shape(
            "baseline: rename a bucket (minimal valid body)", "PATCH", BUCKETS + "/{b}", b'{"name":"Travel"}'
        ),
        Shape("baseline: the same, padded with spaces to 1 MB", "PATCH", BUCKETS + "/{b}", padded),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="requests per shape; the median is shown")
    parser.add_argument("--only", default="", help="only shapes whose name contains this text")
    parser.add_argument(
        "--pg-url", default="", help="a PostgreSQL database to use instead of SQLite (it gains one user)"
    )
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        url = args.pg_url or f"sqlite:///{Path(workdir) / 'abuse.sqlite3'}"
        session = start(url)
        rows = []
        print(
            f"{'shape':<54} {'bytes':>9} {'status':>6} {'errors':>6} {'answer':>6}"
            f" {'ms':>7} {'cpu ms':>7} {'x base':>6}"
        )
        minimal = None
        for shape in baselines(DEFAULT_LIMIT - MARGIN) + shapes():
            if args.only and args.only not in shape.name and not shape.name.startswith("baseline"):
                continue
            row = measure(session, shape, args.runs)
            minimal = minimal or row["cpu_ms"]
            row["x_minimal"] = row["cpu_ms"] / minimal
            rows.append(row)
            print(
                f"{row['shape'][:54]:<54} {row['bytes']:>9,} {row['status']:>6} {row['errors']:>6}"
                f" {row['answer_bytes']:>6,} {row['ms']:>7.1f} {row['cpu_ms']:>7.1f}"
                f" {row['x_minimal']:>6.1f}",
                flush=True,
            )
        session.client.__exit__(None, None, None)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
