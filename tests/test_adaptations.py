"""Canaries for bucketlist/adaptations.py: each fails naming the reach into a library's internals
when the library changes underneath it; and tests of what the reaches guard."""

from __future__ import annotations

import hashlib
import inspect
import io
from datetime import datetime

import psycopg2
import pytest
from a2wsgi import wsgi as a2wsgi_wsgi
from connexion import security as connexion_security
from connexion.decorators import parameter as connexion_parameter
from connexion.resolver import Resolver
from connexion.validators import JSONRequestBodyValidator
from helpers import create_bucket, get_bucket
from pony.orm import Database, db_session
from pony.orm.dbproviders.postgres import PGPool, PGProvider
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware

from bucketlist import adaptations
from bucketlist.app import load_spec
from bucketlist.routes import HTTP_METHODS
from bucketlist.wsgi import BufferedWSGI


def test_canary_connexion_flask_bridge(app):
    bridge = getattr(app, "_middleware_app", None)
    assert bridge is not None and hasattr(bridge, "asgi_app"), (
        "connexion changed FlaskApp._middleware_app.asgi_app: adaptations.replace_flask_bridge"
    )
    assert isinstance(bridge.asgi_app, BufferedWSGI), "the Flask bridge was not replaced"


def test_canary_connexion_inspect_function_arguments(app):
    for module in (connexion_parameter, connexion_security):
        function = getattr(module, "inspect_function_arguments", None)
        assert function is not None, (
            f"{module.__name__}.inspect_function_arguments is gone: adaptations.memoise_connexion_inspection"
        )
        assert getattr(function, "memoised", False), f"{module.__name__} still inspects on every request"
    assert connexion_parameter.inspect_function_arguments(test_canary_connexion_flask_bridge) == (
        ["app"],
        False,
    )


def test_canary_connexion_body_validator_hooks():
    # bucketlist.validation.StrictJSONBodyValidator does its work in these (underscored) hooks.
    for hook in ("_parse", "_validate", "wrap_receive"):
        assert hasattr(JSONRequestBodyValidator, hook), f"connexion's body validator lost {hook}"
    assert "await self._parse(" in inspect.getsource(JSONRequestBodyValidator.wrap_receive), (
        "connexion's body validator no longer calls _parse: bucketlist.validation reads bodies there"
    )


def _built(app, middleware_class: type):
    """The app's instance of one of connexion's middleware, once its stack is built."""
    with app.test_client():
        pass
    found = [m for m in app.middleware.middleware_stack if isinstance(m, middleware_class)]
    assert len(found) == 1, f"connexion's stack holds {len(found)} {middleware_class.__name__}"
    return found[0]


def test_canary_connexion_request_validation_built_once(app, client, user):
    from connexion.middleware.request_validation import (
        RequestValidationMiddleware,
        RequestValidationOperation,
    )

    validate = RequestValidationOperation.__call__
    assert getattr(validate, "memoised", False), "RequestValidationOperation.__call__ is not replaced"
    replaced = hashlib.sha256(inspect.getsource(validate.replaced).encode()).hexdigest()[:16]
    assert replaced == "af472716211911b9", (
        "connexion changed RequestValidationOperation.__call__: re-read it against"
        " adaptations.memoise_connexion_request_validation, then update this hash"
    )
    # Behaviour: every request is still validated, by the validators the first one built.
    url = f"/v1/bucketlists/{create_bucket(client, user)['id']}/items"
    for _ in range(2):
        assert client.get(url, params={"limit": "0"}, headers=user.headers).status_code == 400
        assert client.get(url, params={"limt": "5"}, headers=user.headers).status_code == 400
        assert client.post(url, json={"name": ""}, headers=user.headers).status_code == 400
        plain = {**user.headers, "Content-Type": "text/plain"}
        assert client.post(url, content=b'{"name": "x"}', headers=plain).status_code == 415
        assert client.post(url, json={"name": "Kept"}, headers=user.headers).status_code == 201
    middleware = _built(app, RequestValidationMiddleware)
    operations = {
        operation_id: operation
        for apis in middleware.apis.values()
        for api in apis
        for operation_id, operation in api.operations.items()
    }
    kept = operations["bucketlist.handlers.items.create_item"].__dict__
    assert "_bucketlist_parameter_validator" in kept, "the parameter validator was not kept"
    assert kept["_bucketlist_body_validators"][("application/json", "utf-8")] is not None
    assert ("text/plain", "utf-8") not in kept["_bucketlist_body_validators"], "a refused type was kept"


def test_canary_connexion_swagger_ui_passed_by(app, client, user):
    from connexion.middleware.swagger_ui import SwaggerUIMiddleware
    from starlette.routing import Mount

    assert getattr(SwaggerUIMiddleware.__call__, "memoised", False), "SwaggerUIMiddleware is not wrapped"
    wrapped = hashlib.sha256(inspect.getsource(SwaggerUIMiddleware.__call__.replaced).encode()).hexdigest()
    assert wrapped[:16] == "63d1a07033fd923d", (
        "connexion changed SwaggerUIMiddleware.__call__: re-read it against"
        " adaptations.pass_swagger_ui_by, then update this hash"
    )
    middleware = _built(app, SwaggerUIMiddleware)
    assert middleware.router.routes and all(isinstance(m, Mount) for m in middleware.router.routes), (
        "connexion's SwaggerUIMiddleware router no longer holds mounts only: adaptations.pass_swagger_ui_by"
    )
    assert middleware.__dict__.get("_bucketlist_mounts"), "the UI's paths were not read"
    # Behaviour: the UI and the spec are still served, the API still reached.
    assert client.get("/v1/ui/").status_code == 200
    assert "swagger-ui" in client.get("/v1/ui/").text
    assert client.get("/v1/ui/swagger-ui.css").status_code == 200
    assert client.get("/v1/ui", follow_redirects=False).status_code == 307
    assert client.get("/v1/openapi.json").json()["openapi"].startswith("3.")
    assert client.get("/v1/bucketlists", headers=user.headers).status_code == 200
    assert client.get("/v1/uix").status_code == 404


def test_canary_connexion_integer_route_converter(app):
    import starlette.convertors
    from connexion.frameworks.starlette import IntegerConverter

    assert getattr(IntegerConverter.convert, "memoised", False), "IntegerConverter.convert is not replaced"
    with app.test_client():
        pass  # connexion registers its converter when it builds its stack
    assert isinstance(starlette.convertors.CONVERTOR_TYPES["int"], IntegerConverter), (
        "connexion no longer routes integers with its IntegerConverter:"
        " adaptations.bounded_integer_path_parameters"
    )


@pytest.mark.parametrize("sign, message", [("", "at most 2147483647"), ("-", "at least 1")])
def test_integers_of_thousands_of_digits_are_refused_not_crashed_on(client, user, sign, message):
    """Past 4,300 digits Python refuses to convert: the route and the validator used to raise."""
    for digits in (sign + "1" * 5000, sign + "0" * 5000 + "2"):
        in_path = client.get(f"/v1/bucketlists/{digits}/items/{digits}", headers=user.headers)
        assert in_path.status_code == 400, in_path.text
        assert [e["message"] for e in in_path.json()["errors"]] == [
            f"bucket_id must be {message}",
            f"item_id must be {message}",
        ]
        in_query = client.get("/v1/bucketlists", params={"page": digits}, headers=user.headers)
        assert in_query.status_code == 400, in_query.text
        assert in_query.json()["message"] == f"page must be {message}"
    # Thirty digits are still read as written.
    padded = client.get("/v1/bucketlists", params={"page": "0" * 29 + "2"}, headers=user.headers)
    assert padded.status_code == 200 and padded.json()["page"] == 2, padded.text


def _operation_parameters(spec: dict, builds: int) -> list[str]:
    """What connexion's operation for GET /things/{id} holds after `builds` constructions."""
    from connexion.operations import OpenAPIOperation

    for _ in range(builds):
        operation = OpenAPIOperation(
            method="get",
            path="/things/{id}",
            operation=spec["paths"]["/things/{id}"]["get"],
            resolver=Resolver(lambda _name: lambda: None),
            path_parameters=spec["paths"]["/things/{id}"].get("parameters", []),
        )
    return [parameter["name"] for parameter in operation.parameters]


def _thing_spec() -> dict:
    path_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    tag = {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
    get = {"operationId": "things.get", "parameters": [tag], "responses": {"200": {"description": "ok"}}}
    return {"openapi": "3.0.3", "paths": {"/things/{id}": {"parameters": [path_id], "get": get}}}


def test_canary_connexion_appends_path_parameters_in_place():
    assert _operation_parameters(_thing_spec(), builds=3) == ["If-None-Match", "id", "id", "id"], (
        "connexion no longer appends a path's parameters to its operations' own lists in place:"
        " adaptations.inline_path_parameters can go"
    )


def test_inlined_path_parameters_are_declared_once():
    spec = adaptations.inline_path_parameters(_thing_spec())
    assert "parameters" not in spec["paths"]["/things/{id}"]
    assert _operation_parameters(spec, builds=3) == ["If-None-Match", "id"]


def test_every_operation_of_the_service_has_each_parameter_once():
    spec = adaptations.inline_path_parameters(load_spec())
    for path, item in spec["paths"].items():
        assert "parameters" not in item, path
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            names = [
                parameter.get("$ref", parameter.get("name")) for parameter in operation.get("parameters", [])
            ]
            assert len(names) == len(set(names)), f"{method} {path}: {names}"
            if "{bucket_id}" in path:
                assert "#/components/parameters/BucketId" in names, f"{method} {path} lost bucket_id"


def test_canary_a2wsgi_build_environ():
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/bucketlists",
        "raw_path": b"/v1/bucketlists",
        "root_path": "",
        "query_string": b"page=2",
        "headers": [(b"host", b"example.org")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "http_version": "1.1",
    }
    assert hasattr(a2wsgi_wsgi, "build_environ"), (
        "a2wsgi.wsgi.build_environ is gone: adaptations.wsgi_environ"
    )
    environ = adaptations.wsgi_environ(scope, io.BytesIO(b""))
    assert (environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"]) == (
        "GET",
        "/v1/bucketlists",
        "page=2",
    )
    assert environ["HTTP_HOST"] == "example.org"


def test_canary_starlette_preflight_response():
    cors = CORSMiddleware(app=None, allow_origins=["https://app.example.org"], allow_methods=["GET"])
    answer = cors.preflight_response(
        Headers({"origin": "https://evil.example.net", "access-control-request-method": "GET"})
    )
    assert answer.status_code == 400 and answer.body.decode().startswith("Disallowed CORS"), (
        "starlette's CORSMiddleware.preflight_response changed: bucketlist.middleware rewrites its text"
    )


def test_canary_pony_exec_raw_sql(db):
    assert "frame_depth" in inspect.signature(Database._exec_raw_sql).parameters, (
        "Pony's Database._exec_raw_sql changed: adaptations.raw_rows"
    )
    with db_session:
        assert adaptations.raw_rows(db, "SELECT 1 + $n", {"n": 1}) == [(2,)]


def test_canary_pony_entity_attributes(db):
    columns = adaptations.entity_columns(db.Item)
    assert {"id", "bucket_id", "created_at"} <= set(columns), "Pony's Entity._attrs_ changed"
    assert columns["bucket_id"].name == "bucket" and columns["bucket_id"].is_relation
    assert columns["created_at"].py_type is datetime and columns["created_at"].is_required


def test_canary_pony_pool():
    assert "con" in inspect.signature(PGPool.release).parameters, "Pony's PGPool.release changed"
    assert hasattr(PGProvider, "get_pool"), "Pony's PGProvider.get_pool is gone: adaptations.PostgresProvider"


def test_canary_pony_reconnect_and_cache(db):
    assert hasattr(db.provider, "should_reconnect"), "Pony's provider.should_reconnect is gone"
    with db_session:
        cache = db._get_cache()
        assert hasattr(cache, "in_transaction") and hasattr(cache, "modified"), (
            "Pony's cache lost in_transaction/modified: adaptations.never_replay_inside_a_transaction"
        )


def test_a_connection_lost_inside_a_transaction_fails_instead_of_replaying(client, db, settings):
    """What never_replay_inside_a_transaction guards: Pony would reconnect, re-run the last
    statement alone and commit it, losing the insert sent before the connection dropped."""
    if settings.is_sqlite:
        pytest.skip("a dropped server connection is a PostgreSQL matter")
    with pytest.raises(Exception) as failure:  # noqa: PT011 - Pony wraps the driver's error
        with db_session:
            db.User(email="lost@bucketmail.com", password_hash="x" * 60)
            db.flush()
            terminate(settings, db.select("SELECT pg_backend_pid()"))
            db.select("SELECT COUNT(*) FROM users")
    assert "terminat" in str(failure.value).lower() or "closed" in str(failure.value).lower()
    with db_session:
        assert not db.User.exists(email="lost@bucketmail.com")


def test_canary_pony_thread_connection(db, settings):
    """adaptations.borrowed_connection: the thread's pooled connection is the one the next
    session of the thread runs on, and dropping it makes the next borrow connect anew."""
    if settings.is_sqlite:
        pytest.skip("the token check borrows Pony's connection on PostgreSQL only")
    connection = adaptations.borrowed_connection(db)
    assert db.provider.pool.con is connection, "Pony's DBAPIProvider.connect or Pool.con changed"
    with db_session:
        assert db.get_connection() is connection, (
            "a Pony session no longer takes the thread's pooled connection"
        )
    adaptations.drop_borrowed_connection(db, connection)
    assert connection.closed and db.provider.pool.con is None, "Pony's Pool.drop changed"
    assert adaptations.borrowed_connection(db) is not connection


def backends(settings, application: str) -> list[int]:
    """Process ids of this database's backends opened under `application`."""
    observer = psycopg2.connect(**settings.postgres_params())
    observer.autocommit = True
    try:
        with observer.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                (application,),
            )
            return [pid for (pid,) in cursor.fetchall()]
    finally:
        observer.close()


def terminate(settings, pids: list[int]) -> None:
    killer = psycopg2.connect(**settings.postgres_params())
    killer.autocommit = True
    with killer.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    killer.close()


def test_the_token_check_runs_on_the_requests_own_connection(make_app, user, settings):
    """On PostgreSQL a request holds one backend: the token check borrows the connection the
    handler's session then uses. Killed under it, the next request connects again and works."""
    if settings.is_sqlite:
        pytest.skip("backends are a PostgreSQL matter")
    # Apps of earlier tests with handlers in a pool may hold token-check connections of their own.
    others = set(backends(settings, "bucketlist-auth"))
    with make_app().test_client() as client:
        bucket = create_bucket(client, user)
        assert client.get(f"/v1/bucketlists/{bucket['id']}", headers=user.headers).status_code == 200
        assert set(backends(settings, "bucketlist-auth")) <= others
        terminate(settings, backends(settings, "bucketlist"))
        assert client.get(f"/v1/bucketlists/{bucket['id']}", headers=user.headers).status_code == 200
        renamed = client.patch(
            f"/v1/bucketlists/{bucket['id']}", json={"name": "Again"}, headers=user.headers
        )
        assert renamed.status_code == 200
        assert get_bucket(client, user, bucket["id"])["name"] == "Again"


def test_with_handlers_in_a_pool_a_write_on_a_dropped_connection_connects_again(make_app, user, settings):
    """Handlers in a pool of threads: the token check keeps a connection of its own (the loop
    serves others meanwhile), and a write's first statement, finding its thread's connection
    dropped by a restarted database, connects again (Pony's reconnect before a transaction)."""
    if settings.is_sqlite:
        pytest.skip("backends are a PostgreSQL matter")
    with make_app(threads=2).test_client() as threaded:
        buckets = [create_bucket(threaded, user, f"B{n}") for n in range(4)]
        assert backends(settings, "bucketlist-auth") != []
        terminate(settings, backends(settings, "bucketlist") + backends(settings, "bucketlist-auth"))
        for bucket in buckets:
            answer = threaded.put(
                f"/v1/bucketlists/{bucket['id']}", json={"name": "Renamed"}, headers=user.headers
            )
            assert answer.status_code == 200, answer.text
