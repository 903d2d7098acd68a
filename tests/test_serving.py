"""The served process: one worker runs one request at a time, and no client can stall it.

Handlers run on the event loop, taking turns (bucketlist/turns.py). A client that is slow
to send its body, or does not read its answer, must not hold up anybody else.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import termios
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from live_server import HOST, LiveServer, live_server

PROMPT_SECONDS = 5.0  # far above what a request takes here, far below a hung worker


@pytest.fixture(
    scope="module", params=["sqlite"] + (["postgres"] if os.environ.get("DATABASE_URL_TEST") else [])
)
def server(request, tmp_path_factory) -> Iterator[LiveServer]:
    database_url = os.environ["DATABASE_URL_TEST"] if request.param == "postgres" else None
    with live_server(tmp_path_factory.mktemp("serving"), database_url=database_url) as running:
        yield running


def connect(server: LiveServer, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:  # set before connecting: it bounds the window the server may fill
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(PROMPT_SECONDS)
    sock.connect((HOST, int(server.origin.rsplit(":", 1)[1])))
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(v) for k, _, v in (line.partition(": ") for line in lines[1:]) if k.lower() == "content-length"
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split(" ")[1]), json.loads(body)


def queued_bytes(sock: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0]


def wait_until_stalled(sock: socket.socket) -> None:
    """Until the server has filled what this socket can hold: the bytes queued stop growing."""
    deadline = time.monotonic() + PROMPT_SECONDS
    last = -1
    while time.monotonic() < deadline:
        queued = queued_bytes(sock)
        if queued and queued == last:
            return
        last = queued
        time.sleep(0.05)
    raise AssertionError(f"the server never filled the socket ({last} bytes queued)")


def others_are_served(server: LiveServer, token: str) -> None:
    """Several requests at once, each answered promptly and correctly."""

    def one(n: int) -> float:
        started = time.monotonic()
        status, body = server.request("POST", "/bucketlists", {"name": f"meanwhile {n}"}, token)
        assert status == 201, body
        status, body = server.request("GET", "/bucketlists", token=token)
        assert status == 200, body
        return time.monotonic() - started

    with ThreadPoolExecutor(4) as pool:
        took = list(pool.map(one, range(8)))
    assert max(took) < PROMPT_SECONDS, took


def test_a_client_stalled_mid_body_holds_up_nobody(server):
    token = server.register()
    body = json.dumps({"name": "Sent slowly"}).encode()
    with connect(server) as slow:
        slow.sendall(
            b"POST /v1/bucketlists HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        others_are_served(server, token)

        slow.sendall(body[5:])  # the rest arrives at last: the request is served as any other
        status, answer = read_answer(slow)

    assert status == 201, answer
    assert answer["name"] == "Sent slowly"
    status, listed = server.request("GET", "/bucketlists?limit=100", token=token)
    assert listed["count"] == 9


def test_a_client_that_does_not_read_its_answer_holds_up_nobody(server):
    token = server.register()
    status, bucket = server.request("POST", "/bucketlists", {"name": "Big"}, token)
    for n in range(100):
        item = {"name": f"item {n}", "description": "d" * 2000}
        assert server.request("POST", f"/bucketlists/{bucket['id']}/items", item, token)[0] == 201
    page = f"GET /v1/bucketlists/{bucket['id']}/items?limit=100 HTTP/1.1\r\nHost: x\r\n"
    page += f"Authorization: Bearer {token}\r\n\r\n"
    readers = []
    try:
        # Each answer is over 200 KB. Nobody reads them: once the kernel's buffers are full
        # (a few MB), the server's writes on these connections have to wait.
        for _ in range(2):
            sock = connect(server, receive_buffer=4096)
            readers.append(sock)
            sock.sendall(page.encode() * 32)  # pipelined: 32 answers queue behind each other
        for sock in readers:
            wait_until_stalled(sock)

        others_are_served(server, token)
    finally:
        for sock in readers:
            sock.close()
