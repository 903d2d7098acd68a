"""Every place the service reaches into a library's internals, each for a measured reason.

Nothing else in `bucketlist/` touches an underscored name of connexion, Pony, a2wsgi or
starlette. `tests/test_adaptations.py` has a canary for each reach below, which fails naming
the reach when the library changes underneath it, and tests of the behaviour each one guards.
Two reaches live beside the code they serve, with canaries of their own: uvicorn's protocol
internals (`protocol.REACHES`, `server.REACHES`; tests/test_process.py) and connexion's routing
scope (`observability.py`; tests/test_operations.py). The README's "Upgrading a library" lists
what to re-check.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from a2wsgi.wsgi import build_environ as _a2wsgi_build_environ
from connexion import FlaskApp
from pony.orm import Database
from pony.orm.dbproviders.postgres import PGPool, PGProvider
from starlette.types import ASGIApp

from .routes import HTTP_METHODS

# --- connexion ---------------------------------------------------------------------------


def replace_flask_bridge(app: FlaskApp, make_bridge: Callable[[Any, ASGIApp], ASGIApp]) -> None:
    """Serve Flask through `make_bridge(wsgi_app, fallback)` instead of connexion's a2wsgi one.

    REACH: `FlaskApp._middleware_app.asgi_app`. connexion's bridge runs Flask in a2wsgi's
    thread pool and streams bodies between threads: three blocking hand-offs per request,
    about a tenth of the list endpoint's CPU (bucketlist/wsgi.py says what replaces it).
    """
    bridge = app._middleware_app
    bridge.asgi_app = make_bridge(app.app.wsgi_app, bridge.asgi_app)


def memoise_connexion_inspection() -> None:
    """connexion 3.3 calls `inspect.signature` on the handler and the bearer function for every
    request (about 6 % of the list endpoint's CPU); the functions never change.

    REACH: the module attribute `inspect_function_arguments` of `connexion.decorators.parameter`
    and `connexion.security`, replaced by a memoised copy.
    """
    from connexion import security
    from connexion.decorators import parameter

    if getattr(parameter.inspect_function_arguments, "memoised", False):
        return
    inspect_once = functools.cache(parameter.inspect_function_arguments)

    def inspect_function_arguments(function):
        arguments, has_kwargs = inspect_once(function)
        return list(arguments), has_kwargs

    inspect_function_arguments.memoised = True
    parameter.inspect_function_arguments = inspect_function_arguments
    security.inspect_function_arguments = inspect_function_arguments


def memoise_connexion_request_validation() -> None:
    """Build each operation's parameter validator once, not once per request.

    connexion 3.3's `RequestValidationOperation.__call__` builds, for every request, a URI
    parser (computing the operation's body definition), a parameter validator over the
    operation's parameters, and, for a body, its body definition twice more (each a media-type
    lookup by `fnmatch` over sorted keys) and a body validator: about a tenth of the CPU of a
    GET of one item. All of them hold only the operation's definitions and the request's
    media type; the request reaches them as an argument. This is that method with the
    validators kept: per operation, and per media type and encoding for the body.

    REACH: `connexion.middleware.request_validation.RequestValidationOperation.__call__`
    (replaced; the canary in tests/test_adaptations.py holds the source it replaces, and fails
    when connexion's changes) and the attributes it reads: `_operation`, `_validator_map`.
    """
    from connexion import utils
    from connexion.middleware.request_validation import RequestValidationOperation, logger

    if getattr(RequestValidationOperation.__call__, "memoised", False):
        return
    replaced = RequestValidationOperation.__call__

    def parameter_validator(self: RequestValidationOperation):
        operation = self._operation
        return self._validator_map["parameter"](
            operation.parameters,
            uri_parser=operation._uri_parser_class(operation.parameters, operation.body_definition()),
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )

    def body_validator(self: RequestValidationOperation, mime_type: str, encoding: str):
        """The body's validator for this media type and encoding; None when none applies."""
        operation = self._operation
        schema = operation.body_schema(mime_type)
        if not schema:
            return None
        try:
            validator_class = self._validator_map["body"][mime_type]
        except KeyError:
            logger.info(f"Skipping validation. No validator registered for content type: {mime_type}.")
            return None
        return validator_class(
            schema=schema,
            required=operation.request_body.get("required", False),
            nullable=utils.is_nullable(operation.body_definition(mime_type)),
            encoding=encoding,
            strict_validation=self.strict_validation,
            uri_parser=operation.uri_parser_class(operation.parameters, operation.body_definition()),
        )

    async def validate(self: RequestValidationOperation, scope, receive, send) -> None:
        kept = self.__dict__
        parameters = kept.get("_bucketlist_parameter_validator")
        if parameters is None:
            parameters = kept["_bucketlist_parameter_validator"] = parameter_validator(self)
        parameters.validate(scope)

        mime_type, encoding = self.extract_content_type(scope["headers"])
        # Media types are case-insensitive (RFC 9110 8.3.1). connexion accepts `Application/JSON`
        # as the spec's type but looks its validator up case-sensitively, finds none, and
        # skips validating the body: the handler would get it unchecked.
        mime_type = mime_type.lower()
        bodies = kept.setdefault("_bucketlist_body_validators", {})
        key = (mime_type, encoding)
        if key not in bodies:
            self.validate_mime_type(mime_type)  # raises for one the operation does not take
            bodies[key] = body_validator(self, mime_type, encoding)
        validator = bodies[key]
        if validator is not None:
            receive, scope = await validator.wrap_receive(receive, scope=scope)

        await self.next_app(scope, receive, send)

    validate.memoised = True
    validate.replaced = replaced
    RequestValidationOperation.__call__ = validate


def pass_swagger_ui_by() -> None:
    """Send a request that no path of the spec's UI can match straight on, past its router.

    connexion 3.3's `SwaggerUIMiddleware` runs every request through a starlette router (the
    UI's mount, then each of its routes, and the trailing-slash retry) before handing it on:
    about 4 % of the CPU of a GET of one item. Only a path under a mount that starts with one
    of its routes' fixed part can be the UI's; every other one went to the next app with its
    scope unchanged. (The mount's own path, `/v1`, which the router answers with a redirect,
    never reaches it: `middleware.ImpliedPathsMiddleware` answers it.)

    REACH: `connexion.middleware.swagger_ui.SwaggerUIMiddleware.__call__` (wrapped) and its
    `router.routes`: starlette `Mount`s holding `Route`s. Canary in tests/test_adaptations.py.
    """
    from connexion.middleware.swagger_ui import SwaggerUIMiddleware
    from starlette.routing import Mount

    if getattr(SwaggerUIMiddleware.__call__, "memoised", False):
        return
    route_anew = SwaggerUIMiddleware.__call__

    def prefixes(middleware: SwaggerUIMiddleware) -> list[tuple[str, tuple[str, ...]]] | None:
        """(mount path, fixed beginnings of its routes' paths); None for any other router."""
        found = []
        for mount in middleware.router.routes:
            if not isinstance(mount, Mount):
                return None
            found.append(
                (mount.path, tuple(route.path.split("{", 1)[0].rstrip("/") for route in mount.routes))
            )
        return found

    def may_be_the_uis(mounts: list[tuple[str, tuple[str, ...]]], path: str) -> bool:
        for mount, beginnings in mounts:
            if path.startswith(mount + "/"):
                rest = path[len(mount) :]
                if any(rest.startswith(beginning) for beginning in beginnings):
                    return True
        return False

    async def route(self: SwaggerUIMiddleware, scope, receive, send) -> None:
        if scope["type"] == "http":
            mounts = self.__dict__.get("_bucketlist_mounts", False)
            if mounts is False:
                mounts = self.__dict__["_bucketlist_mounts"] = prefixes(self)
            if mounts is not None and not may_be_the_uis(mounts, scope["path"]):
                await self.app(scope, receive, send)
                return
        await route_anew(self, scope, receive, send)

    route.memoised = True
    route.replaced = route_anew
    SwaggerUIMiddleware.__call__ = route


def bounded_integer_path_parameters() -> None:
    """Read an integer path parameter of thousands of digits as too large, not as a crash.

    connexion 3.3 routes `{bucket_id}` with its `IntegerConverter` (starlette's, matching
    `[+-]?[0-9]+`), which converts with `int()`: past 4,300 digits Python raises, inside the
    router, and the request got a 500. It now converts as the parameter validator does
    (`validation.bounded_int`), so the validator refuses it with the schema's bound (400).

    REACH: `connexion.frameworks.starlette.IntegerConverter.convert` (replaced). Canary and
    behaviour test in tests/test_adaptations.py.
    """
    from connexion.frameworks.starlette import IntegerConverter

    from .validation import bounded_int

    if getattr(IntegerConverter.convert, "memoised", False):
        return

    def convert(self: IntegerConverter, value: str) -> int:
        return bounded_int(value)

    convert.memoised = True
    IntegerConverter.convert = convert


def inline_path_parameters(spec: dict) -> dict:
    """The spec with each path's own `parameters` declared on every operation of the path.

    The same API (OpenAPI: an operation's parameters are the path's plus its own, its own
    winning on the same name and location), worked around a connexion 3.3 bug: its
    `OpenAPIOperation` appends the path's parameters to the operation's list in place
    (`self._parameters += path_parameters`), and builds each operation once per middleware.
    The item path's operations carried each path parameter six times, so every request
    validated and parsed `bucket_id` and `item_id` six times over (13 parameter checks for a
    GET of one item, not 3). Not a private name, but a library's behaviour: the canary in
    tests/test_adaptations.py fails once connexion stops doing it, and this can go.
    """
    spec = copy.deepcopy(spec)
    components = spec.get("components", {}).get("parameters", {})

    def key(parameter: dict) -> tuple[str, str]:
        ref = parameter.get("$ref", "")
        if ref.startswith("#/components/parameters/"):
            parameter = components[ref.rsplit("/", 1)[1]]
        return parameter["in"], parameter["name"]

    for item in spec.get("paths", {}).values():
        shared = item.pop("parameters", None) or []
        for method, operation in item.items():
            if method in HTTP_METHODS and isinstance(operation, dict) and shared:
                own = operation.get("parameters", [])
                taken = {key(parameter) for parameter in own}
                operation["parameters"] = [*own, *(p for p in shared if key(p) not in taken)]
    return spec


# --- a2wsgi ------------------------------------------------------------------------------


def wsgi_environ(scope: dict, body: Any) -> dict:
    """The WSGI environ of an ASGI request whose body is already read.

    REACH: `a2wsgi.wsgi.build_environ`, a2wsgi's own (undocumented) translation: the same
    environ Flask got through connexion's bridge, so nothing downstream can tell the difference.
    """
    return _a2wsgi_build_environ(scope, body)  # type: ignore[arg-type]


# --- Pony --------------------------------------------------------------------------------


def raw_rows(db: Database, sql: str, args: dict[str, Any]) -> list[tuple]:
    """Rows as plain tuples, through Pony's connection handling and error mapping.

    REACH: `Database._exec_raw_sql`. `Database.select` builds a new row class for every
    multi-column result: about 50 µs per call on the list path, and a type object that only
    the cycle collector frees.
    """
    return db._exec_raw_sql(sql, args, None, frame_depth=0).fetchall()


def entity_columns(entity: Any) -> dict[str, Any]:
    """An entity's table columns, each with the Pony attribute behind it (the seeder's columns).

    REACH: `Entity._attrs_`, Pony's list of an entity's attributes.
    """
    return {attr.columns[0]: attr for attr in entity._attrs_ if attr.columns and not attr.is_collection}


def borrowed_connection(db: Database) -> Any:
    """The connection Pony keeps for this thread, for one statement between its sessions.

    The token check runs before the handler's session, on the same thread: on its own
    connection each request woke two PostgreSQL backends instead of one, and with two
    workers that cost a tenth of the writes' throughput (the hand-written baseline lost as
    much when given a second connection). Borrowing Pony's connection, a new one is set up
    as Pony sets up its own (`Database.call_on_connect`); a session begun later takes it as
    it is and sets the transaction mode it needs.

    REACH: `DBAPIProvider.connect` (the thread's pooled connection, `(connection, is_new)`).
    """
    connection, is_new = db.provider.connect()
    if is_new:
        db.call_on_connect(connection)
    return connection


def drop_borrowed_connection(db: Database, connection: Any) -> None:
    """Forget a borrowed connection found broken: the next borrow or session connects anew.

    REACH: `Pool.drop` of the provider's thread-local pool."""
    db.provider.pool.drop(connection)


class _PGPool(PGPool):
    def release(self, con) -> None:
        # Pony's pool sends DISCARD ALL each time a db_session ends: one more round trip per
        # session, to reset session state this service never sets. Ending the transaction
        # is all a reused connection needs.
        try:
            con.rollback()
        except Exception:
            self.drop(con)
            raise


class PostgresProvider(PGProvider):
    """Pony's PostgreSQL provider with a pool that does not DISCARD ALL on every release.

    REACH: `PGProvider.get_pool` and `PGPool.release`, overridden.
    """

    def get_pool(self, *args, **kwargs) -> _PGPool:
        return _PGPool(self.dbapi_module, *args, **kwargs)


def never_replay_inside_a_transaction(db: Database) -> None:
    """Pony reconnects after a dropped connection and re-runs only the failing statement.

    Inside a transaction that silently loses the statements already sent, then commits the
    rest. Reconnecting is only safe before the transaction has begun; otherwise the error must
    surface (and becomes a 503) so that nothing is acknowledged unsaved.

    REACH: `provider.should_reconnect` (wrapped) and `Database._get_cache()` with its
    `in_transaction` and `modified` flags.
    """
    provider = db.provider
    should_reconnect = provider.should_reconnect

    def guarded(exc: Exception) -> bool:
        cache = db._get_cache()
        if cache.in_transaction or cache.modified:
            return False
        return should_reconnect(exc)

    provider.should_reconnect = guarded
