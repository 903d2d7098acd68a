"""The bridge from connexion's ASGI stack to the handlers: no thread hop, or one, per request.

connexion wraps Flask in a2wsgi, which streams the request body and the response between
a worker thread and the event loop: three blocking round trips per request, about a tenth
of the server's CPU on the list endpoint. Here every request body is small (the body limit
middleware bounds it) and every response is built whole, so the body is read on the loop,
the operation runs to completion, and the answer is sent from the loop. An operation whose
answer is JSON is called directly (bucketlist.dispatch); the others run through Flask.

By default (`threads=0`) Flask runs on the event loop itself, one request at a time per
process, as a sync worker would: the body is already read, so a slow client cannot hold the
loop, and no thread waits for the GIL behind the loop after each database round trip. That
convoy was most of the latency tail under load (see README, Performance). With `threads`
set, handlers run in a pool of that many threads instead, so that one slow request holds up
fewer others.

A response without Content-Length (`flask.Response` over a generator: the account export) is
streamed instead: each chunk is produced in a turn of its own on the loop (or in the pool),
and sent before the next is asked for, so other requests of the worker run between chunks and
a slow reader holds back the export only (the send waits on the socket's flow control).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connexion import context as connexion_context
from starlette.types import ASGIApp, Receive, Scope, Send

from . import dispatch, request
from .adaptations import wsgi_environ
from .routes import RouteTable
from .turns import give_back, take_turn

# Register, login, password reset and account deletion spend most of their time in bcrypt
# (which releases the GIL): they get threads of their own, so they never hold up the others.
PASSWORD_OPERATIONS = ("auth.register", "auth.login", "auth.reset_password", "account.delete_account")
PASSWORD_THREADS = 4
# The readiness probe may wait up to a second for the database: on a thread, never on the loop.
PROBE_OPERATIONS = ("operations.readyz",)


class BufferedWSGI:
    def __init__(self, wsgi_app: Any, fallback: ASGIApp, threads: int, routes: RouteTable) -> None:
        self.wsgi_app = wsgi_app
        self.fallback = fallback  # anything but plain HTTP (lifespan) goes the usual way
        self.executor = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bucketlist") if threads else None
        )
        self.calls: dict[Any, dispatch.Call | None] = {}  # by connexion operation
        password = ThreadPoolExecutor(max_workers=PASSWORD_THREADS, thread_name_prefix="bucketlist-password")
        probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bucketlist-readyz")
        # The paths whose handlers run in a pool of their own rather than `executor`.
        self.pools = {routes.path(operation): password for operation in PASSWORD_OPERATIONS} | {
            routes.path(operation): probe for operation in PROBE_OPERATIONS
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        call = self._call_of()
        if call is not None:
            work = functools.partial(call, scope, bytes(body))
        else:
            work = functools.partial(self._run, scope, wsgi_environ(scope, io.BytesIO(bytes(body))))
        # connexion's request context lives in context variables: the thread needs a copy.
        context = contextvars.copy_context()
        executor = self.pools.get(scope["path"], self.executor)
        if executor is None:
            status, headers, content = context.run(work)
            give_back(scope)  # sending may wait on the client: not in our turn
        else:
            give_back(scope)
            loop = asyncio.get_running_loop()
            status, headers, content = await loop.run_in_executor(executor, context.run, work)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if isinstance(content, bytes):
            await send({"type": "http.response.body", "body": content})
        else:
            await self._stream(scope, receive, send, context, content)

    async def _stream(
        self, scope: Scope, receive: Receive, send: Send, context: contextvars.Context, chunks: Any
    ) -> None:
        loop = asyncio.get_running_loop()
        # uvicorn drops what is sent after the client went away without a word: listen for it,
        # so that an abandoned export stops reading instead of running to its end for nobody.
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        try:
            while not gone.is_set():
                if self.executor is None:
                    await take_turn(scope)
                    try:
                        chunk = context.run(next, chunks, None)
                    finally:
                        give_back(scope)
                else:
                    chunk = await loop.run_in_executor(self.executor, context.run, next, chunks, None)
                if chunk is None:
                    break
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _call_of(self) -> dispatch.Call | None:
        """The direct call of the operation connexion routed this request to
        (bucketlist.dispatch); None for Flask, and for what no operation answers."""
        try:
            operation = connexion_context.operation._get_current_object()
        except RuntimeError:  # outside connexion's operation context
            return None
        try:
            return self.calls[operation]
        except KeyError:
            call = self.calls[operation] = dispatch.plan(operation)
            return call

    def _run(self, scope: dict, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        token = request.bind(scope)
        try:
            return self._run_flask(environ)
        finally:
            request.reset(token)

    def _run_flask(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        started: list = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [int(status.split(" ", 1)[0]), headers]
            return written.append

        result = self.wsgi_app(environ, start_response)
        code, headers = started
        raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        if not written and not any(name == b"content-length" for name, _ in raw_headers):
            return code, raw_headers, _Chunks(result)
        try:
            for chunk in result:
                written.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return code, raw_headers, b"".join(written)


class _Chunks:
    """A streamed WSGI body as an iterator whose `close()` reaches the WSGI iterable's."""

    def __init__(self, result: Any) -> None:
        self._result = result
        self._iterator = iter(result)

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        return next(self._iterator)

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()
