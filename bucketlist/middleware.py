"""ASGI middleware around connexion: CORS, path normalisation, body size."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ENDPOINT_NOT_FOUND, ApiError, envelope
from .request import STATE_KEY
from .routes import RouteTable
from .state import AppState

METHODS_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


class AlwaysCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, plus `Access-Control-Allow-Origin: *` on requests without Origin.

    The contract promises the header on every response when any origin is allowed, and a
    JSON body on every response: starlette answers preflights in plain text.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        plain = super().preflight_response(request_headers)
        headers = {k: v for k, v in plain.headers.items() if k not in ("content-length", "content-type")}
        if plain.status_code == 200:
            return Response(status_code=204, headers=headers)
        message = plain.body.decode().replace("Disallowed CORS", "This cross-origin request is not allowed:")
        return JSONResponse(envelope(message), status_code=400, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.allow_all_origins or Headers(scope=scope).get("origin"):
            await super().__call__(scope, receive, send)
            return

        async def send_with_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("Access-Control-Allow-Origin", "*")
            await send(message)

        await self.app(scope, receive, send_with_origin)


class StateMiddleware:
    """Puts the app's state in every request's scope (`scope[request.STATE_KEY]`).

    The token check and the error rendering find the settings, the database and the route
    table there.
    """

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[STATE_KEY] = self.state
        await self.app(scope, receive, send)


class ImpliedPathsMiddleware:
    """Serves the paths the spec implies at the paths connexion routes.

    - `/v1/x/` is served as `/v1/x` (no redirect: browsers do not follow one on a preflight);
    - `GET /` shows the Swagger UI, served in place (with its assets, `/swagger-ui.css` ...);
    - the paths the spec serves at the root (`/healthz`, `/readyz`, `/metrics`) reach their
      operations, and only from there;
    - the base path itself (`/v1`, `/v1/`) serves nothing: 404. starlette's routers would
      redirect `/v1` to `/v1/`, served as `/v1`: a redirect loop.
    """

    def __init__(self, app: ASGIApp, routes: RouteTable) -> None:
        self.app = app
        self.at_root = routes.at_root
        self.hidden = frozenset(routes.at_root.values())
        self.base = routes.base
        self.api_prefix = self.base + "/"
        self.docs_path = self.base + "/ui/"  # connexion's Swagger UI, served at / too

    def routed_path(self, path: str) -> str | None:
        """The path connexion routes for `path`, or None where it must not be served."""
        bare = path[:-1] if path.endswith("/") and path != "/" else path
        if bare in self.at_root:
            return self.at_root[bare]
        if bare in self.hidden or bare == self.base:
            # Served at the root only: /v1/metrics must not reach a network that sees only /v1.
            return None
        if path == "/":
            return self.docs_path
        if path.count("/") == 1 and path != self.base:
            # The docs page at / loads its assets relative to itself: /swagger-ui.css etc.
            return self.docs_path + path[1:]
        if path.startswith(self.api_prefix) and path.endswith("/") and not path.startswith(self.docs_path):
            return path.rstrip("/")
        return path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = self.routed_path(scope["path"])
        if path is None:
            await JSONResponse(envelope(ENDPOINT_NOT_FOUND), status_code=404)(scope, receive, send)
            return
        if path != scope["path"]:
            scope["path"] = path
            scope["raw_path"] = path.encode()
        await self.app(scope, receive, send)


class BareOptionsMiddleware:
    """Answers a bare `OPTIONS` on a path of the spec with 204 and `Allow`, its methods.

    A CORS preflight never gets here: the CORS layer, further out, answers it.
    """

    def __init__(self, app: ASGIApp, routes: RouteTable) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            allow = self.routes.allow_header(scope["path"])
            if allow:
                await send(
                    {"type": "http.response.start", "status": 204, "headers": [(b"allow", allow.encode())]}
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for bodies over the limit. Every body is read here, whole, and replayed.

    Reading it here means nothing below waits on the client: a request takes its turn on the
    loop (`turns.py`) with its body in hand. connexion 3.3 treats a body without
    Content-Length as absent, so a chunked upload is also given the header it lacked.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def too_large(self) -> ApiError:
        return ApiError(413, f"Request body is larger than the limit of {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None:
            if not length.isascii() or not length.isdigit():
                raise ApiError(400, "Content-Length must be a number")
            if int(length) > self.max_bytes:
                raise self.too_large()
            if int(length) == 0:
                await self.app(scope, receive, send)
                return
        elif scope["method"] not in METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self.too_large()
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if length is None:
            scope = dict(scope)
            # Werkzeug ignores Content-Length while Transfer-Encoding says chunked.
            scope["headers"] = [
                *((k, v) for k, v in scope["headers"] if k.lower() != b"transfer-encoding"),
                (b"content-length", str(len(body)).encode()),
            ]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
