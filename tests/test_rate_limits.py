"""Rate limits: failed logins per email and address, per address, registrations, password resets.

Through the HTTP interface, on SQLite and PostgreSQL (counts in the database), and on Redis
when REDIS_URL_TEST names a database of a Redis server to use (and flush) for the tests.
The test client's peer is set per request (`app.test_client(client=(host, port))`); the
default trusted proxy, 127.0.0.1, forwards with X-Forwarded-For.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml
from helpers import assert_failed
from live_server import free_port, live_server
from pony.orm import db_session

from bucketlist.app import SPEC_PATH
from bucketlist.config import ConfigurationError, RateLimit, RateLimits, Settings

REGISTER = "/v1/auth/register"
LOGIN = "/v1/auth/login"
RESET = "/v1/auth/reset/password"
TOO_MANY = "Too many requests, try again later"
WRONG_LOGIN = "User does not exist or password is incorrect"
PASSWORD = "right-password"
REDIS_URL = os.environ.get("REDIS_URL_TEST")
FIFTEEN_MINUTES = 15 * 60


def assert_rate_limited(response, longest_wait: int) -> int:
    assert_failed(response, 429, TOO_MANY)
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= longest_wait
    return int(retry_after)


@contextmanager
def peer(app, host: str) -> Iterator:
    """A test client whose requests come from `host`."""
    with app.test_client(client=(host, 40000)) as client:
        yield client


def login(client, email: str, password: str, headers: dict | None = None):
    return client.post(LOGIN, json={"email": email, "password": password}, headers=headers or {})


def register(client, email: str, password: str = PASSWORD):
    return client.post(REGISTER, json={"email": email, "password": password})


def reset(client, token: str, old: str, new: str = "new-password"):
    body = {"oldPassword": old, "newPassword": new, "passwordConfirmation": new}
    return client.post(RESET, json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def account(client) -> dict:
    response = register(client, "victim@bucketmail.com")
    assert response.status_code == 201, response.text
    return {"email": "victim@bucketmail.com", "token": response.json()["auth_token"]}


# --- failed logins for one email from one address ---------------------------------------------


def test_the_brute_force_loop_gets_429_from_the_11th_attempt(app, client, account):
    with peer(app, "203.0.113.10") as attacker:
        for attempt in range(10):
            assert_failed(login(attacker, account["email"], f"guess-{attempt}"), 401, WRONG_LOGIN)
        refused = login(attacker, account["email"], "guess-10")
        assert_rate_limited(refused, FIFTEEN_MINUTES)
        # Until the window frees, the right password gets 429 too: no oracle for the attacker.
        assert_rate_limited(login(attacker, account["email"], PASSWORD), FIFTEEN_MINUTES)
        assert login(attacker, "someone-else@bucketmail.com", "x" * 8).status_code == 401
    # The owner, elsewhere, is not locked out.
    with peer(app, "198.51.100.20") as owner:
        assert login(owner, account["email"], PASSWORD).status_code == 200


def test_the_email_is_counted_whatever_its_letter_case(app, client, account):
    with peer(app, "203.0.113.11") as attacker:
        for attempt in range(10):
            variant = account["email"].upper() if attempt % 2 else f"  {account['email']}"
            assert login(attacker, variant, "wrong").status_code == 401
        assert_rate_limited(login(attacker, account["email"].title(), "wrong"), FIFTEEN_MINUTES)


def test_400s_and_successful_logins_do_not_count(app, client, account):
    with peer(app, "203.0.113.12") as someone:
        for _ in range(15):
            assert login(someone, account["email"], "no").status_code == 400  # under 4 characters
            assert login(someone, account["email"], PASSWORD).status_code == 200
        for _ in range(10):
            assert login(someone, account["email"], "wrong").status_code == 401
        assert_rate_limited(login(someone, account["email"], "wrong"), FIFTEEN_MINUTES)


def test_429s_do_not_count_and_the_wait_is_honest(make_app, client, account):
    """A short window, to watch it free: after Retry-After seconds one attempt goes through."""
    app = make_app(rate_limits=RateLimits(login_email=RateLimit(2, 2)))
    with peer(app, "203.0.113.13") as someone:
        assert login(someone, account["email"], "wrong").status_code == 401
        assert login(someone, account["email"], "wrong").status_code == 401
        for _ in range(5):
            wait = assert_rate_limited(login(someone, account["email"], PASSWORD), 2)
        time.sleep(wait + 0.05)
        assert login(someone, account["email"], PASSWORD).status_code == 200


# --- failed logins from one address over all emails -------------------------------------------


def test_failed_logins_from_one_address_over_all_emails(app, client):
    with peer(app, "203.0.113.14") as sprayer:
        for n in range(50):
            assert login(sprayer, f"target{n}@bucketmail.com", "wrong").status_code == 401
        assert_rate_limited(login(sprayer, "target50@bucketmail.com", "wrong"), FIFTEEN_MINUTES)
    with peer(app, "203.0.113.15") as another:
        assert login(another, "target50@bucketmail.com", "wrong").status_code == 401


# --- registrations ---------------------------------------------------------------------------


def test_registrations_from_one_address(app, client):
    with peer(app, "203.0.113.16") as registrar:
        for _ in range(5):
            assert register(registrar, "not-an-email").status_code == 400  # not counted
        for n in range(18):
            assert register(registrar, f"new{n}@bucketmail.com").status_code == 201
        for _ in range(2):  # 409s count as attempts too
            assert register(registrar, "new0@bucketmail.com").status_code == 409
        assert_rate_limited(register(registrar, "new20@bucketmail.com"), 3600)
    with peer(app, "203.0.113.17") as another:
        assert register(another, "new20@bucketmail.com").status_code == 201


# --- wrong oldPassword on password reset ---------------------------------------------------------


def test_wrong_old_passwords_on_reset_for_one_user(app, client, account):
    other = register(client, "bystander@bucketmail.com").json()["auth_token"]
    with peer(app, "203.0.113.18") as first, peer(app, "203.0.113.19") as second:
        for attempt in range(10):
            # From two addresses: the count is per user.
            assert_failed(reset(first if attempt % 2 else second, account["token"], "wrong"), 401)
        assert_rate_limited(reset(first, account["token"], "wrong"), FIFTEEN_MINUTES)
        assert_rate_limited(reset(second, account["token"], PASSWORD), FIFTEEN_MINUTES)
        # Another user's resets are not affected.
        assert reset(first, other, PASSWORD).status_code == 200
    # A mismatched confirmation is a 400 before any count.
    body = {"oldPassword": PASSWORD, "newPassword": "abcdef", "passwordConfirmation": "abcdeg"}
    response = client.post(RESET, json=body, headers={"Authorization": f"Bearer {account['token']}"})
    assert_failed(response, 400, "New Passwords do not match")


# --- a refused attempt costs no password hashing ---------------------------------------------------


def test_a_refused_attempt_costs_no_hashing(make_app, client):
    """At bcrypt's production cost a hash takes hundreds of milliseconds; a 429 takes a few."""
    app = make_app(
        bcrypt_rounds=12,
        rate_limits=RateLimits(login_email=RateLimit(1, 600), register=RateLimit(1, 600)),
    )
    with peer(app, "203.0.113.20") as someone:
        started = time.perf_counter()
        assert register(someone, "slow@bucketmail.com").status_code == 201
        hashed = time.perf_counter() - started
        started = time.perf_counter()
        assert_rate_limited(register(someone, "slow2@bucketmail.com"), 600)
        refused_register = time.perf_counter() - started

        started = time.perf_counter()
        assert login(someone, "slow@bucketmail.com", "wrong").status_code == 401
        checked = time.perf_counter() - started
        started = time.perf_counter()
        assert_rate_limited(login(someone, "slow@bucketmail.com", "wrong"), 600)
        refused_login = time.perf_counter() - started
    assert refused_register < hashed / 5, (refused_register, hashed)
    assert refused_login < checked / 5, (refused_login, checked)


# --- the client address --------------------------------------------------------------------------


def test_a_trusted_proxy_forwards_the_client_address(app, client, account):
    with peer(app, "127.0.0.1") as proxy:
        for _ in range(10):
            forwarded = {"X-Forwarded-For": "192.0.2.50"}
            assert login(proxy, account["email"], "wrong", forwarded).status_code == 401
        assert_rate_limited(
            login(proxy, account["email"], PASSWORD, {"X-Forwarded-For": "192.0.2.50"}), FIFTEEN_MINUTES
        )
        # The nearest untrusted hop is the client: what it claims further left is ignored.
        spoofed = {"X-Forwarded-For": "10.9.9.9, 192.0.2.50"}
        assert_rate_limited(login(proxy, account["email"], PASSWORD, spoofed), FIFTEEN_MINUTES)
        # Another client behind the same proxy is not affected.
        other = {"X-Forwarded-For": "192.0.2.51"}
        assert login(proxy, account["email"], PASSWORD, other).status_code == 200


def test_an_untrusted_peer_cannot_choose_its_address(app, client, account):
    with peer(app, "203.0.113.21") as attacker:
        for n in range(10):
            forged = {"X-Forwarded-For": f"192.0.2.{n}"}
            assert login(attacker, account["email"], "wrong", forged).status_code == 401
        forged = {"X-Forwarded-For": "192.0.2.99"}
        assert_rate_limited(login(attacker, account["email"], PASSWORD, forged), FIFTEEN_MINUTES)


# --- shared by every worker and instance -----------------------------------------------------------


def test_two_instances_on_one_database_share_the_counts(app, make_app, client, account):
    second = make_app()
    with peer(app, "203.0.113.22") as one, peer(second, "203.0.113.22") as two:
        for attempt in range(10):
            assert login(one if attempt % 2 else two, account["email"], "wrong").status_code == 401
        assert_rate_limited(login(one, account["email"], PASSWORD), FIFTEEN_MINUTES)
        assert_rate_limited(login(two, account["email"], PASSWORD), FIFTEEN_MINUTES)


def test_registrations_at_once_on_two_instances_never_pass_the_limit(make_app, client):
    """Counting is atomic across instances: 16 registrations at once, 5 allowed, 5 answered 201."""
    limits = RateLimits(register=RateLimit(5, 3600))
    apps = [make_app(rate_limits=limits), make_app(rate_limits=limits)]
    for app in apps:
        with app.test_client():
            pass  # connexion builds its middleware on first use: once, before the racers start
    barrier = threading.Barrier(16, timeout=30)
    statuses: list[int] = [0] * 16

    def run(index: int) -> None:
        with peer(apps[index % 2], "203.0.113.30") as someone:
            barrier.wait()
            statuses[index] = register(someone, f"racer{index}@bucketmail.com").status_code

    threads = [threading.Thread(target=run, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 5 + [429] * 11


def live_login(origin: str, email: str, password: str) -> tuple[int, http.client.HTTPMessage, dict]:
    host, port = origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        body = json.dumps({"email": email, "password": password})
        connection.request("POST", LOGIN, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


def test_two_live_servers_share_the_counts(settings, client, account, tmp_path):
    """Two `bucketlist serve` processes on the same database, as two hosts would be."""
    env = {"SECRET_KEY": settings.secret_key, "BUCKETLIST_BCRYPT_ROUNDS": "4"}
    with (
        live_server(tmp_path / "a", database_url=settings.database_url, env=env) as a,
        live_server(tmp_path / "b", database_url=settings.database_url, env=env) as b,
    ):
        for attempt in range(10):
            status, _headers, _body = live_login((a if attempt % 2 else b).origin, account["email"], "x" * 6)
            assert status == 401
        for server in (a, b):
            status, headers, body = live_login(server.origin, account["email"], PASSWORD)
            assert (status, body["message"]) == (429, TOO_MANY)
            assert 1 <= int(headers["Retry-After"]) <= FIFTEEN_MINUTES


# --- the database store ---------------------------------------------------------------------------


def test_expired_rows_are_swept_without_a_cron_job(make_app, client, db):
    with db_session:
        db.execute("INSERT INTO rate_limit_hits (key, hit_at, expires_at) VALUES ('old', 1.0, 2.0)")
    fresh = make_app()  # a new process's store sweeps at its first count
    with peer(fresh, "203.0.113.23") as someone:
        assert login(someone, "nobody@bucketmail.com", "wrong").status_code == 401
    with db_session:
        keys = db.select("SELECT key FROM rate_limit_hits")
    assert "old" not in [key.strip() for key in keys]
    assert len(keys) == 2  # the failure just counted, per email and per address


def test_a_count_store_that_stops_answering_is_a_503_within_seconds(app, settings, client, account):
    if settings.is_sqlite:
        pytest.skip("a table lock that blocks readers is a PostgreSQL test")
    import psycopg2

    blocker = psycopg2.connect(**settings.postgres_params())
    try:
        with blocker.cursor() as cursor, peer(app, "203.0.113.29") as someone:
            cursor.execute("LOCK TABLE rate_limit_hits IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            response = login(someone, account["email"], PASSWORD)
            waited = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()
    assert_failed(response, 503, "The service is temporarily unavailable, please try again shortly")
    assert waited < 8
    with peer(app, "203.0.113.29") as someone:
        assert login(someone, account["email"], PASSWORD).status_code == 200


# --- Redis ----------------------------------------------------------------------------------------

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL_TEST is not set")


@pytest.fixture
def redis_app(make_app):
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()  # the tests' own Redis database: every test starts from no counts
    yield make_app(redis_url=REDIS_URL)
    connection.flushdb()
    connection.close()


@needs_redis
def test_redis_keeps_the_counts(redis_app, make_app, client, account, db):
    second = make_app(redis_url=REDIS_URL)
    with db_session:  # the fixture's registration, counted by the session's database-backed app
        in_database = db.select("SELECT count(*) FROM rate_limit_hits")
    with peer(redis_app, "203.0.113.24") as one, peer(second, "203.0.113.24") as two:
        for attempt in range(10):
            assert login(one if attempt % 2 else two, account["email"], "wrong").status_code == 401
        assert_rate_limited(login(one, account["email"], PASSWORD), FIFTEEN_MINUTES)
        assert_rate_limited(login(two, account["email"], PASSWORD), FIFTEEN_MINUTES)
    with db_session:
        assert db.select("SELECT count(*) FROM rate_limit_hits") == in_database
    with peer(redis_app, "203.0.113.25") as elsewhere:
        assert login(elsewhere, account["email"], PASSWORD).status_code == 200


@needs_redis
def test_redis_registrations_and_resets(redis_app, client, account):
    with peer(redis_app, "203.0.113.26") as registrar:
        for n in range(20):
            assert register(registrar, f"r{n}@bucketmail.com").status_code == 201
        assert_rate_limited(register(registrar, "r20@bucketmail.com"), 3600)
        for _ in range(10):
            assert reset(registrar, account["token"], "wrong").status_code == 401
        assert_rate_limited(reset(registrar, account["token"], PASSWORD), FIFTEEN_MINUTES)


def test_an_unreachable_redis_is_a_503_not_a_free_pass(make_app, client, account):
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with peer(app, "203.0.113.27") as someone:
        started = time.perf_counter()
        response = login(someone, account["email"], PASSWORD)
        assert_failed(response, 503, "The service is temporarily unavailable, please try again shortly")
        assert response.headers["retry-after"] == "5"
        assert time.perf_counter() - started < 5
        assert register(someone, "new@bucketmail.com").status_code == 503
        # Everything else works without Redis.
        headers = {"Authorization": f"Bearer {account['token']}"}
        assert someone.get("/v1/bucketlists", headers=headers).status_code == 200


# --- configuration and the documents ----------------------------------------------------------------


def test_limits_off(make_app, client, account):
    app = make_app(rate_limits=RateLimits.parse("off"))
    with peer(app, "203.0.113.28") as someone:
        for _ in range(12):
            assert login(someone, account["email"], "wrong").status_code == 401
        assert login(someone, account["email"], PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", RateLimits()),
        ("off", RateLimits(enabled=False)),
        (" OFF ", RateLimits(enabled=False)),
        ("login_email=10/15m,login_address=50/15m,register=20/1h,reset=10/15m", RateLimits()),
        ("register=5/h", RateLimits(register=RateLimit(5, 3600))),
        (
            "login_email=3/30s, reset=1/1d",
            RateLimits(login_email=RateLimit(3, 30), reset=RateLimit(1, 86400)),
        ),
    ],
)
def test_rate_limits_setting(raw, expected):
    assert Settings.from_env({"BUCKETLIST_RATE_LIMITS": raw}).rate_limits == expected


@pytest.mark.parametrize(
    "raw",
    ["login=10/15m", "register=20", "register=20/15x", "register=0/1h", "register=5/8d", "register=-1/1h"],
)
def test_bad_rate_limits_are_refused_at_start(raw):
    with pytest.raises(ConfigurationError, match="BUCKETLIST_RATE_LIMITS"):
        Settings.from_env({"BUCKETLIST_RATE_LIMITS": raw})


def test_forwarded_allow_ips_and_redis_url_settings():
    settings = Settings.from_env(
        {
            "BUCKETLIST_FORWARDED_ALLOW_IPS": "10.0.0.1, 172.16.0.0/12,::1",
            "BUCKETLIST_REDIS_URL": "redis://r:6379/2",
        }
    )
    assert settings.forwarded_allow_ips == ("10.0.0.1", "172.16.0.0/12", "::1")
    assert settings.redis_url == "redis://r:6379/2"
    assert Settings.from_env({}).forwarded_allow_ips == ("127.0.0.1",)
    with pytest.raises(ConfigurationError, match="BUCKETLIST_FORWARDED_ALLOW_IPS"):
        Settings.from_env({"BUCKETLIST_FORWARDED_ALLOW_IPS": "proxy.internal"})
    with pytest.raises(ConfigurationError, match="BUCKETLIST_REDIS_URL"):
        Settings.from_env({"BUCKETLIST_REDIS_URL": "127.0.0.1:6379"})


def test_the_spec_documents_429_with_retry_after():
    spec = yaml.safe_load(SPEC_PATH.read_text())
    for path in ("/auth/register", "/auth/login", "/auth/reset/password"):
        response = spec["paths"][path]["post"]["responses"]["429"]
        assert response == {"$ref": "#/components/responses/TooManyRequests"}
    component = spec["components"]["responses"]["TooManyRequests"]
    assert component["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}
    assert component["content"]["application/json"]["example"]["message"] == TOO_MANY


# --- the original front end's flow at the defaults ----------------------------------------------------


def test_the_front_end_flow_is_not_affected_at_the_defaults(app, settings, client):
    """Register, log in (after one typo), buckets, items, reset, log out: all from one address."""
    assert settings.rate_limits == RateLimits()
    with peer(app, "127.0.0.1") as browser:
        assert register(browser, "react@bucketmail.com").status_code == 201
        assert login(browser, "react@bucketmail.com", "typo-password").status_code == 401
        token = login(browser, "react@bucketmail.com", PASSWORD).json()["auth_token"]
        auth = {"Authorization": f"Bearer {token}"}
        bucket = browser.post("/v1/bucketlists", json={"name": "Travel"}, headers=auth).json()
        items = f"/v1/bucketlists/{bucket['id']}/items"
        assert browser.post(items, json={"name": "Lapland"}, headers=auth).status_code == 201
        assert browser.get(items, headers=auth).json()["count"] == 1
        assert browser.get("/v1/bucketlists", headers=auth).status_code == 200
        new_token = reset(browser, token, PASSWORD).json()["auth_token"]
        logout = browser.post("/v1/auth/logout", headers={"Authorization": f"Bearer {new_token}"})
        assert logout.status_code == 200
        assert login(browser, "react@bucketmail.com", "new-password").status_code == 200


def test_the_database_store_keeps_limits_own_moving_window(settings, client):
    """The SQL store against `limits`' in-memory reference, through `limits`' own strategy: the
    same answers for the same hits. Fails if `limits` changes what a storage must provide."""
    from limits import RateLimitItemPerSecond
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    from bucketlist.ratelimit import SQLStorage

    item = RateLimitItemPerSecond(3, 60)
    store = SQLStorage(settings)
    ours, reference = MovingWindowRateLimiter(store), MovingWindowRateLimiter(MemoryStorage())
    for limiter in (ours, reference):
        assert [limiter.hit(item, "someone") for _ in range(4)] == [True, True, True, False]
        assert limiter.hit(item, "someone else")
    for who in ("someone", "someone else", "nobody"):
        (our_reset, our_left), (their_reset, their_left) = (
            ours.get_window_stats(item, who),
            reference.get_window_stats(item, who),
        )
        assert our_left == their_left
        assert abs(our_reset - their_reset) < 5
    ours.clear(item, "someone")
    assert ours.get_window_stats(item, "someone").remaining == 3
    store.close()
