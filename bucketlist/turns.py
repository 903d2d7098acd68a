"""Requests take turns on the event loop, one at a time, in the order they arrived.

With handlers on the loop (`BUCKETLIST_THREADS=0`), a process serves one request at a time,
as a sync worker does. Left alone, the loop runs every request that became ready during one
pass over the network in a single batch, and reads the network again only after the whole
batch: a request that arrives early in a batch waits for all of it and then for part of the
next one, so under load the slowest requests took two to three times the median.

Here a request that finds the loop busy queues, and the turn passes to the next in line
only on the loop's next pass, after it has read the network. Waits follow arrival order,
the way a sync worker's accept queue does. Whoever holds the turn never waits on a client:
the body is read before the turn is taken (`BodyLimitMiddleware`), the turn is given back
before the response is sent and before work is handed to a thread (`BufferedWSGI`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from weakref import WeakKeyDictionary

from starlette.types import ASGIApp, Receive, Scope, Send

SCOPE_KEY = "bucketlist.turn"
TURNS_KEY = "bucketlist.turns"


class Turns:
    """The queue of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.busy = False
        self.waiting: deque[asyncio.Future] = deque()

    async def take(self) -> Turn:
        if not self.busy:
            self.busy = True
            return Turn(self)
        ticket = self.loop.create_future()
        self.waiting.append(ticket)
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self.pass_on()  # the turn had reached us: the next one gets it
            raise
        return Turn(self)

    def pass_on(self) -> None:
        while self.waiting:
            ticket = self.waiting.popleft()
            if not ticket.done():  # skip those cancelled while waiting
                ticket.set_result(None)  # it runs on the loop's next pass, after a read
                return
        # Nobody queued yet: free from the next pass on, so that the requests already read
        # in this pass queue behind it instead of running back to back.
        self.loop.call_soon(self._free)

    def _free(self) -> None:
        if self.waiting:
            self.pass_on()
        else:
            self.busy = False


class Turn:
    def __init__(self, turns: Turns) -> None:
        self.turns: Turns | None = turns

    def give_back(self) -> None:
        """Idempotent: whoever is done first gives it back."""
        if self.turns is not None:
            turns, self.turns = self.turns, None
            turns.pass_on()


class TurnsMiddleware:
    """Every HTTP request below this middleware runs in its turn (see the module's doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loops: WeakKeyDictionary[asyncio.AbstractEventLoop, Turns] = WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        turns = self.loops.get(loop)
        if turns is None:
            turns = self.loops[loop] = Turns(loop)  # one per loop: the test client runs several
        turn = await turns.take()
        scope[SCOPE_KEY] = turn
        scope[TURNS_KEY] = turns
        try:
            await self.app(scope, receive, send)
        finally:
            turn.give_back()


async def take_turn(scope: Scope) -> None:
    """Queue for another turn, after giving one back: a streamed answer produces each chunk in
    a turn of its own, so the worker's other requests run between its chunks."""
    turns = scope.get(TURNS_KEY)
    if turns is not None:
        scope[SCOPE_KEY] = await turns.take()


def give_back(scope: Scope) -> None:
    turn = scope.get(SCOPE_KEY)
    if turn is not None:
        turn.give_back()
