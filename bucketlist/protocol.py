"""Each worker's HTTP protocol: uvicorn's httptools protocol, with deadlines for slow clients.

uvicorn bounds only the idle time between requests (`timeout_keep_alive`, armed when an answer
is complete, cancelled by any byte): a client that sends its request head or body a byte at a
time keeps its connection for as long as it likes, and the application sees nothing of it
until the head is parsed (uvicorn's issue #157). This subclass adds, per connection:

- a deadline for the request head: `head_timeout` seconds from the connection's opening, then
  from the first byte of each later request; bytes trickling in do not extend it;
- a pace for the body: it may stall for at most `body_timeout` seconds, and after its first
  `body_timeout` seconds it must have averaged MIN_BODY_RATE bytes per second (a body sent at
  10 bytes/s is cut off after about 10 s; a large upload over a slow line is not);
- a drain when the worker stops: every request already received is answered, the last one on
  each connection with `Connection: close`, and an idle connection is closed after
  DRAIN_IDLE_SECONDS in which a request already on its way is still answered.

A request cut off is answered 408 in the envelope and its connection closed; a connection that
never sent a byte is just closed. Time during which the server itself does not read (pipelined
requests waiting their turn) does not count against the client. The deadlines cost nothing for
the usual request that arrives whole: a timer is armed only when a read ends mid-request.

Everything here that reaches into uvicorn's internals is named in REACHES; the canary test in
tests/test_process.py fails naming the reach if uvicorn changes one of them.
"""

from __future__ import annotations

import json
import logging
from asyncio import TimerHandle

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from . import lifecycle
from .config import Settings
from .errors import envelope

logger = logging.getLogger("bucketlist.protocol")

# After its first `body_timeout` seconds a body must keep up this average (Apache's
# mod_reqtimeout uses the same figure): 1 MiB takes at most about 35 minutes.
MIN_BODY_RATE = 500
# When a worker stops, an idle keep-alive connection stays open this long, so that a request
# the client sent just before it could know is answered (with `Connection: close`).
DRAIN_IDLE_SECONDS = 1.0
REQUEST_TIMEOUT_MESSAGE = "The request was not received in time; the connection is closed"
INVALID_HTTP_MESSAGE = "The request is not valid HTTP"

# What a connection is waiting for from the client.
AWAITING = "awaiting"  # its first byte (a new connection)
HEAD = "head"  # the rest of a request head
BODY = "body"  # the rest of a request body

# The names of uvicorn's protocol and request cycle this module relies on (see the canary).
REACHES = {
    HttpToolsProtocol: (
        "connection_made",
        "connection_lost",
        "data_received",
        "on_message_begin",
        "on_headers_complete",
        "on_body",
        "on_message_complete",
        "shutdown",
        "send_400_response",
        "timeout_keep_alive_handler",
        "_unset_keepalive_if_required",
        # instance attributes
        "loop",
        "transport",
        "flow",
        "cycle",
        "pipeline",
        "server_state",
        "timeout_keep_alive",
        "timeout_keep_alive_task",
    ),
    RequestResponseCycle: (
        "keep_alive",
        "response_started",
        "response_complete",
        "disconnected",
        "message_event",
    ),
}


def timed_protocol(settings: Settings) -> type[TimedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=` setting, with the configured deadlines."""
    return type(
        "TimedHttpToolsProtocol",
        (TimedHttpToolsProtocol,),
        {"head_timeout": settings.head_timeout, "body_timeout": settings.body_timeout},
    )


def _error_answer(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = json.dumps(envelope(message), separators=(",", ":")).encode()
    head = [STATUS_LINE[status]]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    head.append(
        b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    )
    return b"".join(head) + body


class TimedHttpToolsProtocol(HttpToolsProtocol):
    head_timeout: float = 10.0
    body_timeout: float = 10.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_for: str | None = None  # AWAITING, HEAD, BODY, or None between requests
        self.waiting_since = 0.0
        self.body_progress_at = 0.0
        self.body_received = 0
        self.deadline_timer: TimerHandle | None = None
        self.draining = False
        # The request whose answer we made close the connection (see `shutdown`).
        self.closes_after: RequestResponseCycle | None = None

    # Where the client is in its request, from the parser's callbacks.

    def _expect(self, what: str | None) -> None:
        self.waiting_for = what
        self.waiting_since = self.body_progress_at = self.loop.time()
        self.body_received = 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect(AWAITING)
        self._watch()
        if lifecycle.draining.is_set():  # accepted while the worker was starting to stop
            self.shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
            self.deadline_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.waiting_for != AWAITING:  # a new connection's first head is due from its opening
            self._expect(HEAD)
        self.waiting_for = HEAD

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        self._expect(BODY)
        if self.draining and self.cycle is not previous:
            # Received while the worker stops: answered, and now the last on this connection.
            if self.closes_after is not None and not self.closes_after.response_started:
                self.closes_after.keep_alive = True
            self.closes_after = None
            self._close_after(self.cycle)

    def on_body(self, body: bytes) -> None:
        self.body_received += len(body)
        self.body_progress_at = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.waiting_for = None

    # The deadlines.

    def _deadline(self) -> float:
        if self.waiting_for == BODY:
            stalled = self.body_progress_at + self.body_timeout
            too_slow = self.waiting_since + self.body_timeout + self.body_received / MIN_BODY_RATE
            return min(stalled, too_slow)
        return self.waiting_since + self.head_timeout

    def _watch(self) -> None:
        """After each read: a timer only while a request is incomplete (or not begun)."""
        if self.waiting_for is None:
            if self.deadline_timer is not None:
                self.deadline_timer.cancel()
                self.deadline_timer = None
        elif not self.transport.is_closing():
            # A timer that fires early finds the deadline moved on by progress, and re-arms.
            deadline = self._deadline()
            if self.deadline_timer is None or self.deadline_timer.when() > deadline:
                if self.deadline_timer is not None:
                    self.deadline_timer.cancel()
                self.deadline_timer = self.loop.call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self.deadline_timer = None
        if self.waiting_for is None or self.transport.is_closing():
            return
        now = self.loop.time()
        answering = self.waiting_for == HEAD and self.cycle is not None and not self.cycle.response_complete
        if self.flow.read_paused or answering:
            # We stopped reading, or are still answering the request before (pipelined): the
            # client is not the one late.
            self.waiting_since = self.body_progress_at = now
        deadline = self._deadline()
        if now < deadline:
            self.deadline_timer = self.loop.call_at(deadline, self._on_deadline)
            return
        self._time_out()

    def _time_out(self) -> None:
        if self.waiting_for == AWAITING:
            logger.debug("closed a connection that sent nothing for %g s", self.head_timeout)
            self.transport.close()
            return
        cycle = self.cycle if self.waiting_for == BODY else None
        if cycle is not None and cycle.response_started:
            self.transport.close()  # it was answered before its body came: nothing left to say
        else:
            self.transport.write(
                _error_answer(408, REQUEST_TIMEOUT_MESSAGE, self.server_state.default_headers)
            )
            self.transport.close()
        if cycle is not None:
            # The application may be waiting for the body: it gets a disconnect, and sends nothing.
            cycle.disconnected = True
            cycle.message_event.set()
        logger.info(
            "closed a connection whose request %s was not received in time (%s)",
            self.waiting_for,
            f"{self.client[0]}:{self.client[1]}" if self.client else "unknown client",
        )

    # Errors in the envelope instead of uvicorn's plain text.

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_error_answer(400, INVALID_HTTP_MESSAGE, self.server_state.default_headers))
        self.transport.close()

    # Stopping.

    def shutdown(self) -> None:
        """uvicorn calls this on every connection when the worker stops."""
        if self.draining:
            return
        self.draining = True
        # uvicorn re-arms its idle timer with this after each answer from now on.
        self.timeout_keep_alive = min(self.timeout_keep_alive, DRAIN_IDLE_SECONDS)
        if self.pipeline:
            self._close_after(self.pipeline[0][0])  # the newest: uvicorn queues on the left
        elif self.cycle is not None and not self.cycle.response_complete:
            self._close_after(self.cycle)
        elif self.waiting_for in (None, AWAITING):
            # Idle: a request may already be on its way; it gets DRAIN_IDLE_SECONDS to arrive.
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
        # Otherwise a request is partly received: its head completes into on_headers_complete.

    def _close_after(self, cycle: RequestResponseCycle) -> None:
        """Its answer says `Connection: close`, and the connection closes once it is sent."""
        if cycle.keep_alive and not cycle.response_started:
            cycle.keep_alive = False
            self.closes_after = cycle
