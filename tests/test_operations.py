"""Operations: probes, metrics, request ids and log lines, through the HTTP interface."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import BUCKETS, assert_failed, shuttable_postgres_database
from prometheus_client.parser import text_string_to_metric_families

from bucketlist import create_app, lifecycle
from bucketlist import metrics as bucketlist_metrics
from bucketlist.app import load_spec
from bucketlist.config import ConfigurationError, Settings
from bucketlist.logs import ACCESS_LOGGER, RequestIdFilter, TextFormatter, formatter

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{16,128}\Z")
OPERATION_IDS = {
    operation["operationId"]
    for item in load_spec()["paths"].values()
    for operation in item.values()
    if isinstance(operation, dict) and "operationId" in operation
}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


# --- probes -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_alive(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "success", "message": "alive"}


@pytest.mark.parametrize("path", ["/readyz", "/readyz/"])
def test_ready(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "success", "message": "ready"}


def test_not_ready_while_draining(client):
    lifecycle.draining.set()
    try:
        response = client.get("/readyz")
    finally:
        lifecycle.draining.clear()

    assert_failed(response, 503, "shutting down")
    assert int(response.headers["retry-after"]) > 0
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/v1/healthz", "/v1/readyz", "/v1/metrics", "/v1/metrics/"])
def test_operations_live_at_the_root_only(client, path):
    """A proxy that exposes /v1 to the world must not expose the metrics."""
    assert_failed(client.get(path), 404, "Endpoint not found")


def test_probes_refuse_other_methods(client):
    response = client.post("/healthz")

    assert_failed(response, 405)
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


@pytest.fixture
def outage(settings, tmp_path):
    """An application on a database of its own, and a function that takes that database away."""
    if settings.is_sqlite:
        path = tmp_path / "outage.sqlite3"
        app = create_app(Settings(**{**settings.__dict__, "database_url": f"sqlite:///{path}"}))

        def shut() -> None:
            # The file goes; connections already open keep theirs, a new one finds nothing.
            gone = tmp_path / "gone"
            gone.mkdir()
            for file in tmp_path.glob("outage.sqlite3*"):
                shutil.move(file, gone / file.name)

        yield app, shut
        return

    with shuttable_postgres_database(settings, "bl_outage") as (url, shut):
        yield create_app(Settings(**{**settings.__dict__, "database_url": url})), shut


def test_not_ready_while_the_database_is_unavailable(outage):
    app, shut = outage
    with app.test_client() as client:
        shut()

        ready = client.get("/readyz")
        alive = client.get("/healthz")

    assert_failed(ready, 503, "database unavailable")
    assert int(ready.headers["retry-after"]) > 0
    # Liveness touches no database: the process itself is fine.
    assert alive.status_code == 200


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers: a database that hangs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_readiness_waits_one_second_and_holds_up_nobody(settings, db, silent_port):
    """The probe waits on a thread of its own: meanwhile the worker answers everyone else."""
    hung = f"postgresql://postgres@127.0.0.1:{silent_port}/bucketlist"
    app = create_app(Settings(**{**settings.__dict__, "database_url": hung}), db=db)
    finished: dict[str, float] = {}
    with app.test_client() as client:
        started = time.monotonic()

        def probe() -> None:
            finished["response"] = client.get("/readyz")
            finished["readyz"] = time.monotonic() - started

        prober = threading.Thread(target=probe)
        prober.start()
        time.sleep(0.2)
        alive = client.get("/healthz")
        finished["healthz"] = time.monotonic() - started
        prober.join()

    assert_failed(finished["response"], 503, "database unavailable")
    assert alive.status_code == 200
    assert finished["healthz"] < finished["readyz"]
    assert 0.9 < finished["readyz"] < 5


# --- metrics ------------------------------------------------------------------------


def samples(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_counted(before: dict, after: dict, operation: str, method: str, status: int) -> float:
    key = (
        "bucketlist_http_requests_total",
        frozenset({"operation": operation, "method": method, "status": str(status)}.items()),
    )
    return after.get(key, 0) - before.get(key, 0)


def test_requests_are_counted_by_operation(client, user):
    before = samples(client)
    client.get(BUCKETS, headers=user.headers)
    client.get(BUCKETS, headers=user.headers)
    client.get(BUCKETS)
    after = samples(client)

    assert requests_counted(before, after, "buckets.list_buckets", "GET", 200) == 2
    assert requests_counted(before, after, "buckets.list_buckets", "GET", 401) == 1
    histogram = (
        "bucketlist_http_request_duration_seconds_count",
        frozenset({"operation": "buckets.list_buckets"}.items()),
    )
    assert after[histogram] - before.get(histogram, 0) == 3


def test_canary_connexion_names_the_routed_operation(client):
    """observability.py reads the operation connexion's routing puts in the scope: if that
    reach into connexion breaks, every request is `unmatched` and this fails."""
    before = samples(client)
    client.get("/healthz")
    after = samples(client)

    assert requests_counted(before, after, "operations.healthz", "GET", 200) == 1


def test_labels_never_hold_a_path_or_an_id(client, user):
    before = samples(client)
    client.get(f"{BUCKETS}/12345", headers=user.headers)
    client.get("/nope")
    client.get("/v1/nope/98765")
    client.delete(BUCKETS, headers=user.headers)
    client.request("FROBNICATE", BUCKETS)
    client.options(
        BUCKETS, headers={"Origin": "https://app.example.org", "Access-Control-Request-Method": "GET"}
    )
    client.get("/")
    after = samples(client)

    assert requests_counted(before, after, "buckets.get_bucket", "GET", 404) == 1
    assert requests_counted(before, after, "unmatched", "GET", 404) == 2
    assert requests_counted(before, after, "unmatched", "DELETE", 405) == 1
    assert requests_counted(before, after, "unmatched", "OTHER", 405) == 1
    assert requests_counted(before, after, "unmatched", "OPTIONS", 204) == 1
    assert requests_counted(before, after, "unmatched", "GET", 200) == 1
    for _name, labels in after:
        labels = dict(labels)
        assert labels.get("operation", "unmatched") in OPERATION_IDS | {"unmatched"}, labels
        assert all("/" not in value and "12345" not in value for value in labels.values()), labels


def test_rate_limits_and_database_errors_are_exported(client):
    before = samples(client)
    for attempt in range(11):  # the 11th failed login for one email from one address is refused
        client.post("/v1/auth/login", json={"email": "nobody@bucketmail.com", "password": f"guess-{attempt}"})
    after = samples(client)

    assert (
        after[("bucketlist_rate_limited_total", frozenset())]
        - before[("bucketlist_rate_limited_total", frozenset())]
        == 1
    )
    assert ("bucketlist_database_errors_total", frozenset()) in after


def test_a_database_failure_is_counted(outage, settings):
    if settings.is_sqlite:
        pytest.skip("a database that refuses connections mid-request is a PostgreSQL test")
    app, shut = outage
    with app.test_client() as client:
        token = client.post("/v1/auth/register", json={"email": "down@bucketmail.com", "password": "secret"})
        headers = {"Authorization": f"Bearer {token.json()['auth_token']}"}
        before = samples(client)
        shut()
        assert_failed(client.get(BUCKETS, headers=headers), 503)
        after = samples(client)

    key = ("bucketlist_database_errors_total", frozenset())
    assert after[key] - before[key] == 1


def test_metrics_can_be_turned_off(make_app):
    with make_app(metrics=False).test_client() as client:
        response = client.get("/metrics")

    assert_failed(response, 404, "Endpoint not found")


def test_serve_gives_the_workers_an_empty_metrics_directory(monkeypatch, tmp_path):
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"counts of an earlier run")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))

    assert bucketlist_metrics.prepare_multiprocess_dir(several_processes=False) is None
    assert [f.name for f in given.iterdir()] == ["keep.txt"]

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert bucketlist_metrics.prepare_multiprocess_dir(several_processes=False) is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    created = bucketlist_metrics.prepare_multiprocess_dir(several_processes=True)
    try:
        assert created.is_dir() and not list(created.iterdir())
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(created)
    finally:
        bucketlist_metrics.remove_multiprocess_dir(created)
    assert not created.exists()


@pytest.mark.parametrize(
    "environ, expected",
    [({}, (True, "text")), ({"BUCKETLIST_METRICS": "0", "BUCKETLIST_LOG_FORMAT": "JSON"}, (False, "json"))],
)
def test_settings(environ, expected):
    settings = Settings.from_env(environ)

    assert (settings.metrics, settings.log_format) == expected


@pytest.mark.parametrize("environ", [{"BUCKETLIST_METRICS": "off"}, {"BUCKETLIST_LOG_FORMAT": "xml"}])
def test_bad_settings(environ):
    with pytest.raises(ConfigurationError):
        Settings.from_env(environ)


# --- request ids --------------------------------------------------------------------


@pytest.mark.parametrize("given", ["abc", "A.b_c-9", "x" * 128])
def test_a_good_request_id_is_kept(client, given):
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "x" * 129, "a b", "a/b", "é".encode(), "a\tb", "id;drop"])
def test_another_request_id_is_replaced(client, given):
    first = client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"]
    second = client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"]

    assert REQUEST_ID.match(first) and REQUEST_ID.match(second)
    assert first != given and first != second


ANSWERS = {
    "list": ("GET", BUCKETS, {}),
    "401": ("GET", f"{BUCKETS}/1", {}),
    "404": ("GET", "/nope", {}),
    "405": ("PUT", BUCKETS, {}),
    "415": ("POST", BUCKETS, {"content": b"x", "headers": {"Content-Type": "text/plain"}}),
    "preflight": (
        "OPTIONS",
        BUCKETS,
        {"headers": {"Origin": "https://a.example.org", "Access-Control-Request-Method": "POST"}},
    ),
    "bare options": ("OPTIONS", BUCKETS, {}),
    "docs": ("GET", "/", {}),
    "spec": ("GET", "/v1/openapi.json", {}),
    "metrics": ("GET", "/metrics", {}),
}


@pytest.mark.parametrize("method, path, extra", ANSWERS.values(), ids=ANSWERS.keys())
def test_every_answer_carries_a_request_id(client, method, path, extra):
    response = client.request(method, path, **extra)

    assert REQUEST_ID.match(response.headers["x-request-id"]), response.headers


def test_browsers_may_send_and_read_the_request_id(client):
    preflight = client.options(
        BUCKETS,
        headers={
            "Origin": "https://app.example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Request-ID",
        },
    )
    answer = client.get("/healthz", headers={"Origin": "https://app.example.org"})

    assert preflight.status_code == 204
    assert "x-request-id" in preflight.headers["access-control-allow-headers"].lower()
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


# --- log lines ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def request_ids_in_records(caplog):
    """As the handler `bucketlist serve` configures: every record gets the request's id."""
    caplog.handler.addFilter(RequestIdFilter())


@pytest.fixture
def access_lines(caplog):
    caplog.set_level(logging.INFO, logger="bucketlist")

    def lines(request_id: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == ACCESS_LOGGER and r.request_id == request_id]

    return lines


def test_one_access_line_per_request(client, user, access_lines):
    response = client.get(f"{BUCKETS}/?limit=5&q=trip", headers=user.headers)

    [line] = access_lines(response.headers["x-request-id"])
    assert line.levelname == "INFO"
    assert line.method == "GET"
    # As the client sent it, not as the middleware rewrote it.
    assert line.path == "/v1/bucketlists/?limit=5&q=trip"
    assert line.status == 200
    assert 0 < line.duration_ms < 10_000
    assert line.process == os.getpid()
    assert isinstance(line.user_id, int)


def test_the_docs_are_logged_as_requested(client, access_lines):
    response = client.get("/swagger-ui.css")

    [line] = access_lines(response.headers["x-request-id"])
    assert line.path == "/swagger-ui.css"
    assert line.user_id is None


def test_credentials_in_a_query_string_are_redacted(client, access_lines):
    response = client.get(f"{BUCKETS}?token=s3cr3t-t0ken&q=ok&api_key=k3y&Password=pw0rd&access%5Ftoken=t2")

    [line] = access_lines(response.headers["x-request-id"])
    assert line.path == (
        f"{BUCKETS}?token=[REDACTED]&q=ok&api_key=[REDACTED]&Password=[REDACTED]&access%5Ftoken=[REDACTED]"
    )


def test_a_token_anywhere_in_the_target_is_redacted(client, user, access_lines):
    response = client.get(f"/v1/{user.token}/x?q={user.token}&page=1")

    [line] = access_lines(response.headers["x-request-id"])
    assert line.path == "/v1/[REDACTED]/x?q=[REDACTED]&page=1"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_token_password_or_body_in_any_line(client, caplog, log_format):
    caplog.set_level(logging.INFO)  # the server's own loggers write INFO, the others WARNING
    password, name = "correct-horse-battery", "my-very-private-bucket-name"
    registered = client.post(
        "/v1/auth/register", json={"email": "quiet@bucketmail.com", "password": password}
    )
    token = registered.json()["auth_token"]
    headers = {"Authorization": f"Bearer {token}"}
    client.post("/v1/auth/login", json={"email": "quiet@bucketmail.com", "password": password})
    client.post(BUCKETS, json={"name": name}, headers=headers)
    client.post(BUCKETS, content=b'{"name": "' + name.encode() + b'", "oops"', headers=headers)
    client.get(f"{BUCKETS}?access_token={token}", headers=headers)

    # httpx is the test's client: its lines are the client's, not the server's.
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    written = "\n".join(formatter(log_format).format(record) for record in records)
    assert len([r for r in records if r.name == ACCESS_LOGGER]) == 5
    for secret in (password, token, token.split(".")[2], name, "quiet@bucketmail.com"):
        assert secret not in written


def test_a_500_is_one_record_with_its_request_id_and_traceback(make_app, caplog):
    caplog.set_level(logging.INFO, logger="bucketlist")

    def boom():
        raise RuntimeError("deep down")

    app = make_app()
    app.app.add_url_rule("/v1/boom", "boom", boom)
    with app.test_client() as client:
        response = client.get("/v1/boom")

    request_id = response.headers["x-request-id"]
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING and r.request_id == request_id]
    assert response.status_code == 500
    [error] = errors
    assert error.exc_info is not None
    line = formatter("json").format(error)
    assert "\n" not in line
    document = json.loads(line)
    assert document["request_id"] == request_id
    assert "RuntimeError: deep down" in document["traceback"]
    assert ISO_UTC.fullmatch(document["time"])


def test_a_503_is_logged_with_its_request_id(outage, settings, caplog):
    if settings.is_sqlite:
        pytest.skip("a database that refuses connections mid-request is a PostgreSQL test")
    caplog.set_level(logging.INFO, logger="bucketlist")
    app, shut = outage
    with app.test_client() as client:
        token = client.post("/v1/auth/register", json={"email": "down@bucketmail.com", "password": "secret"})
        headers = {"Authorization": f"Bearer {token.json()['auth_token']}"}
        shut()
        answers = [
            client.get(BUCKETS, headers=headers),
            client.post(BUCKETS, json={"name": "x"}, headers=headers),
        ]

    for response in answers:
        request_id = response.headers["x-request-id"]
        assert_failed(response, 503)
        [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING and r.request_id == request_id]
        assert warning.name == "bucketlist"
        assert "database unavailable" in warning.getMessage()


def test_text_lines_carry_time_level_request_id_and_pid(client, caplog):
    caplog.set_level(logging.INFO, logger="bucketlist")
    response = client.get("/healthz", headers={"X-Request-ID": "text-line-1"})

    [record] = [r for r in caplog.records if r.name == ACCESS_LOGGER and r.request_id == "text-line-1"]
    line = TextFormatter().format(record)
    assert re.fullmatch(
        rf"{ISO_UTC.pattern} INFO bucketlist\.access \[text-line-1\] pid={os.getpid()}: "
        r"GET /healthz 200 \d+\.\dms user=None",
        line,
    ), line
    assert response.status_code == 200


# --- a real server --------------------------------------------------------------------


@pytest.fixture(
    scope="module", params=["sqlite"] + (["postgres"] if os.environ.get("DATABASE_URL_TEST") else [])
)
def json_server(request, tmp_path_factory):
    from live_server import live_server

    database_url = os.environ["DATABASE_URL_TEST"] if request.param == "postgres" else None
    with live_server(
        tmp_path_factory.mktemp("operations"),
        database_url=database_url,
        workers=2,
        env={"BUCKETLIST_LOG_FORMAT": "json"},
    ) as running:
        yield running


def get(server, path: str) -> tuple[int, str]:
    import urllib.request

    # A new connection each time: the two workers share the listening socket.
    with urllib.request.urlopen(f"{server.origin}{path}", timeout=10) as response:
        return response.status, response.read().decode()


def json_lines(log_path: Path) -> list[dict]:
    return [json.loads(line) for line in log_path.read_text().splitlines()]


def pids_writing(server, what) -> set[int]:
    return {line["pid"] for line in json_lines(server.log_path) if what(line)}


def test_a_served_instance_logs_json_and_sums_its_workers(json_server):
    deadline = time.monotonic() + 30
    started: set[int] = set()
    while len(started) < 2 and time.monotonic() < deadline:  # each worker says when it is up
        time.sleep(0.2)
        started = pids_writing(json_server, lambda line: "startup complete" in line["message"])
    assert len(started) >= 2, "the second worker did not start"

    def healthz(_: int) -> None:
        status, text = get(json_server, "/healthz")
        assert (status, json.loads(text)) == (200, {"status": "success", "message": "alive"})

    # Requests in bursts on new connections, until both workers have answered some.
    sent = 0
    answered: set[int] = set()
    with ThreadPoolExecutor(8) as pool:
        while len(answered) < 2 and sent < 400:
            list(pool.map(healthz, range(40)))
            sent += 40
            time.sleep(0.2)  # the access lines are written after the answer
            answered = pids_writing(json_server, lambda line: line["logger"] == ACCESS_LOGGER)
    assert len(answered) == 2, "every request went to one worker"

    status, text = get(json_server, "/metrics")
    assert status == 200
    healthz = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "bucketlist_http_requests_total"
        and sample.labels["operation"] == "operations.healthz"
    )
    assert healthz == sent

    time.sleep(0.2)
    lines = json_lines(json_server.log_path)  # every line is one JSON object, uvicorn's too
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    access = [line for line in lines if line["logger"] == ACCESS_LOGGER]
    assert sum(line["path"] == "/healthz" for line in access) == sent
    for line in access:
        assert ISO_UTC.fullmatch(line["time"]) and REQUEST_ID.match(line["request_id"])
        assert {"method", "path", "status", "duration_ms", "pid", "user_id"} <= set(line)
