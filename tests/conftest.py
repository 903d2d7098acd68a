"""Fixtures: every test runs on SQLite and, when DATABASE_URL_TEST is set, on PostgreSQL too.

Each backend gets one application for the session; every test starts from empty tables.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import pytest
from pony.orm import db_session

from bucketlist import create_app
from bucketlist.config import Settings

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("DATABASE_URL_TEST") else [])
TEST_SECRET = secrets.token_urlsafe(48)
TABLES = (
    "search_counts",
    "search_totals",
    "idempotency_keys",
    "changes",
    "items",
    "buckets",
    "revoked_tokens",
    "users",
    "rate_limit_hits",
)


@pytest.fixture(scope="session", params=BACKENDS)
def settings(request, tmp_path_factory) -> Settings:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'bucketlist.sqlite3'}"
    else:
        url = os.environ["DATABASE_URL_TEST"]
    return Settings(
        database_url=url,
        secret_key=TEST_SECRET,
        bcrypt_rounds=4,  # about 1 ms a hash instead of 440 ms
        validate_responses=True,
    )


@pytest.fixture(scope="session")
def app(settings):
    return create_app(settings)


@pytest.fixture(scope="session")
def db(app):
    return app.app.extensions["bucketlist"].db


def wipe(db) -> None:
    with db_session:
        if db.provider.dialect == "PostgreSQL":
            db.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        else:
            for table in TABLES:
                db.execute(f"DELETE FROM {table}")


@pytest.fixture
def client(app, db):
    wipe(db)
    with app.test_client() as test_client:
        yield test_client


@pytest.fixture
def make_app(settings, db):
    """Another application on the same database, with some settings changed."""

    def make(**changes):
        return create_app(Settings(**{**settings.__dict__, **changes}))

    return make


def built(app):
    with app.test_client():
        pass  # connexion builds its middleware on first use: once, before any racers start
    return app


@pytest.fixture(params=[0, 4], ids=["on-the-loop", "4-threads"])
def racing_app(request, make_app):
    """Handlers on each client's event loop (the default), and in a pool of threads."""
    return built(make_app(threads=request.param))


@pytest.fixture(params=[0, 4], ids=["on-the-loop", "4-threads"])
def two_workers(request, make_app):
    """Two applications on one database, each with its own connections: two workers."""
    return [built(make_app(threads=request.param)) for _ in range(2)]


@dataclass
class Account:
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class AuthActions:
    def __init__(self, client) -> None:
        self._client = client
        self._count = 0

    def register(self, email: str | None = None, password: str = "secret-password") -> Account:
        self._count += 1
        email = email or f"user{self._count}@bucketmail.com"
        response = self._client.post("/v1/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        return Account(email, password, response.json()["auth_token"])

    def login(self, email: str, password: str):
        return self._client.post("/v1/auth/login", json={"email": email, "password": password})


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def user(auth) -> Account:
    return auth.register()


@pytest.fixture
def other_user(auth) -> Account:
    return auth.register()
