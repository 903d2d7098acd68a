"""Auth: register, login, bearer tokens, logout, password reset, and the signing key.

Every line of the contract's Auth section, through the HTTP interface.
"""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from helpers import assert_failed
from pony.orm import db_session

from bucketlist import security
from bucketlist.config import ConfigurationError, Settings

REGISTER = "/v1/auth/register"
LOGIN = "/v1/auth/login"
LOGOUT = "/v1/auth/logout"
RESET = "/v1/auth/reset/password"
PROTECTED = "/v1/bucketlists"

BAD_CREDENTIALS_FORMAT = "Missing or wrong email format or password is less than four characters"
USER_EXISTS = "Failed, User already exists, Please sign In"
WRONG_LOGIN = "User does not exist or password is incorrect"
NO_HEADER = "Provide an authorization header"
INVALID_TOKEN = "Invalid token. Please sign in again"
EXPIRED_TOKEN = "Signature expired, Please sign in again"
REVOKED_TOKEN = "Token has been revoked, Please sign in again"


def assert_unauthorized(response, message: str) -> None:
    assert_failed(response, 401, message)
    assert response.headers["www-authenticate"] == "Bearer"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_token_works(client, token: str) -> None:
    response = client.get(PROTECTED, headers=bearer(token))
    assert response.status_code == 200, response.text


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def user_id(db, email: str) -> int:
    with db_session:
        return db.User.get(email=email).id


def reset_password(client, account, old: str, new: str, confirmation: str | None = None):
    body = {
        "oldPassword": old,
        "newPassword": new,
        "passwordConfirmation": new if confirmation is None else confirmation,
    }
    return client.post(RESET, json=body, headers=account.headers)


# --- register -----------------------------------------------------------------------


def test_register(client):
    response = client.post(REGISTER, json={"email": "new@bucketmail.com", "password": "secret"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert body["message"] == "Successfully registered"
    assert_token_works(client, body["auth_token"])


def test_register_stores_the_email_trimmed_and_lower_cased(client, auth, db):
    auth.register(" Foo@Example.COM ", "secret")

    assert auth.login("foo@example.com", "secret").status_code == 200
    with db_session:
        assert [u.email for u in db.User.select()] == ["foo@example.com"]


@pytest.mark.parametrize(
    "again", ["user@bucketmail.com", "USER@BUCKETMAIL.COM", "User@BucketMail.com", "  user@bucketmail.com "]
)
def test_register_an_existing_email_in_any_letter_case(client, auth, db, again):
    auth.register("user@bucketmail.com", "secret")

    response = client.post(REGISTER, json={"email": again, "password": "another-secret"})

    assert_failed(response, 409, USER_EXISTS)
    with db_session:
        assert db.User.select().count() == 1
    # The first account keeps its password.
    assert auth.login("user@bucketmail.com", "secret").status_code == 200


BAD_CREDENTIALS = {
    "no @": {"email": "userbucketmail.com", "password": "secret"},
    "nothing before @": {"email": "@bucketmail.com", "password": "secret"},
    "nothing after @": {"email": "user@", "password": "secret"},
    "two @": {"email": "user@@bucketmail.com", "password": "secret"},
    "space inside": {"email": "us er@bucketmail.com", "password": "secret"},
    "empty email": {"email": "", "password": "secret"},
    "password of 3 characters": {"email": "user@bucketmail.com", "password": "abc"},
    "password of 129 characters": {"email": "user@bucketmail.com", "password": "p" * 129},
    "empty password": {"email": "user@bucketmail.com", "password": ""},
    "no email": {"password": "secret"},
    "no password": {"email": "user@bucketmail.com"},
    "empty object": {},
    "extra field": {"email": "user@bucketmail.com", "password": "secret", "admin": True},
    "email a number": {"email": 42, "password": "secret"},
    "email null": {"email": None, "password": "secret"},
    "password a number": {"email": "user@bucketmail.com", "password": 123456},
    "password a list": {"email": "user@bucketmail.com", "password": ["secret"]},
    "password null": {"email": "user@bucketmail.com", "password": None},
}


@pytest.mark.parametrize("path", [REGISTER, LOGIN])
@pytest.mark.parametrize("body", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_bad_credentials_format(client, db, path, body):
    response = client.post(path, json=body)

    assert_failed(response, 400, BAD_CREDENTIALS_FORMAT)
    with db_session:
        assert db.User.select().count() == 0


def email_of_length(length: int) -> str:
    local = "a" * 64
    domain = "b" * (length - len(local) - len("@") - len(".com"))
    email = f"{local}@{domain}.com"
    assert len(email) == length
    return email


def test_email_of_254_characters_is_accepted(client, auth):
    auth.register(email_of_length(254), "secret")


@pytest.mark.parametrize("path", [REGISTER, LOGIN])
def test_email_over_254_characters_is_refused(client, path):
    response = client.post(path, json={"email": email_of_length(255), "password": "secret"})
    assert_failed(response, 400, BAD_CREDENTIALS_FORMAT)


@pytest.mark.parametrize(
    "password",
    ["abcd", "p" * 128, "€" * 128, "🙂" * 128, "pass word with spaces", "  padded  "],
    ids=["4 characters", "128 characters", "128 euro signs", "128 emoji", "spaces", "padded"],
)
def test_any_password_of_4_to_128_characters(client, auth, password):
    account = auth.register("user@bucketmail.com", password)

    response = auth.login("user@bucketmail.com", password)
    assert response.status_code == 200, response.text
    assert_token_works(client, account.token)


def test_password_is_not_trimmed(client, auth):
    auth.register("user@bucketmail.com", "  padded  ")
    assert_unauthorized(auth.login("user@bucketmail.com", "padded"), WRONG_LOGIN)


@pytest.mark.parametrize(
    "prefix", ["a" * 72, "€" * 24, "€" * 40], ids=["ascii", "72 bytes of €", "120 bytes of €"]
)
def test_every_character_of_the_password_counts(client, auth, prefix):
    # bcrypt reads 72 bytes at most; these two passwords agree on (at least) those.
    auth.register("user@bucketmail.com", prefix + "X")

    assert_unauthorized(auth.login("user@bucketmail.com", prefix + "Y"), WRONG_LOGIN)
    assert auth.login("user@bucketmail.com", prefix + "X").status_code == 200


# --- login --------------------------------------------------------------------------


def test_login(client, user):
    response = client.post(LOGIN, json={"email": user.email, "password": user.password})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["message"] == "Successfully logged In"
    assert_token_works(client, body["auth_token"])


def test_login_ignores_letter_case_and_surrounding_spaces_of_the_email(client, user):
    response = client.post(LOGIN, json={"email": f" {user.email.upper()} ", "password": user.password})
    assert response.status_code == 200


def test_unknown_email_and_wrong_password_look_the_same(client, user):
    unknown = client.post(LOGIN, json={"email": "nobody@bucketmail.com", "password": user.password})
    wrong = client.post(LOGIN, json={"email": user.email, "password": "not-the-password"})

    assert_unauthorized(unknown, WRONG_LOGIN)
    assert_unauthorized(wrong, WRONG_LOGIN)
    assert unknown.content == wrong.content


# --- tokens -------------------------------------------------------------------------


def test_token_claims(client, user, db):
    header = jwt.get_unverified_header(user.token)
    claims = unverified_claims(user.token)

    assert header["alg"] == "HS256"
    assert claims["sub"] == str(user_id(db, user.email))
    assert isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert abs(claims["iat"] - time.time()) < 60
    assert isinstance(claims["jti"], str) and claims["jti"]


def test_every_token_has_its_own_jti(client, user, auth):
    again = auth.login(user.email, user.password).json()["auth_token"]
    assert unverified_claims(again)["jti"] != unverified_claims(user.token)["jti"]


def test_token_lifetime_comes_from_the_settings(client, make_app):
    with make_app(token_ttl=60).test_client() as short_lived:
        response = short_lived.post(REGISTER, json={"email": "user@bucketmail.com", "password": "secret"})
    claims = unverified_claims(response.json()["auth_token"])
    assert claims["exp"] - claims["iat"] == 60


def test_no_authorization_header(client):
    assert_unauthorized(client.get(PROTECTED), NO_HEADER)


def resign(token: str, key: str, algorithm: str = "HS256", **changes) -> str:
    """The same claims, changed and signed again."""
    claims = {**unverified_claims(token), **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key, algorithm=algorithm)


def unsigned(token: str) -> str:
    """`alg: none`: the claims as they are, no signature."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(unverified_claims(token))}."


def tampered(token: str, key: str) -> str:
    """A longer life written into the claims, the original signature kept."""
    header, _, signature = token.split(".")
    payload = resign(token, key, exp=unverified_claims(token)["exp"] + 3600).split(".")[1]
    return f"{header}.{payload}.{signature}"


OTHER_KEY = "a-different-key-that-is-long-enough-for-hs256"

INVALID_AUTHORIZATIONS = {
    "not a jwt": lambda token, key: "Bearer not-a-token",
    "bearer without token": lambda token, key: "Bearer",
    "truncated": lambda token, key: f"Bearer {token[:-6]}",
    "payload tampered": lambda token, key: f"Bearer {tampered(token, key)}",
    "wrong signature": lambda token, key: f"Bearer {resign(token, OTHER_KEY)}",
    "alg none": lambda token, key: f"Bearer {unsigned(token)}",
    "HS512 with the right key": lambda token, key: f"Bearer {resign(token, key, 'HS512')}",
    "unknown user": lambda token, key: f"Bearer {resign(token, key, sub='2147483647')}",
    "sub not a string": lambda token, key: f"Bearer {resign(token, key, sub=1)}",
    "no exp": lambda token, key: f"Bearer {resign(token, key, exp=None)}",
    "no jti": lambda token, key: f"Bearer {resign(token, key, jti=None)}",
    "no sub": lambda token, key: f"Bearer {resign(token, key, sub=None)}",
    "basic scheme": lambda token, key: "Basic " + base64.b64encode(b"user@bucketmail.com:secret").decode(),
    "basic scheme with the token": lambda token, key: f"Basic {token}",
    "token without scheme": lambda token, key: token,
}


@pytest.mark.parametrize("authorization", INVALID_AUTHORIZATIONS.values(), ids=INVALID_AUTHORIZATIONS.keys())
def test_invalid_token(client, user, settings, authorization):
    header = authorization(user.token, settings.secret_key)

    response = client.get(PROTECTED, headers={"Authorization": header})

    assert_unauthorized(response, INVALID_TOKEN)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(client, user, scheme):
    response = client.get(PROTECTED, headers={"Authorization": f"{scheme} {user.token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("seconds_ago", [30, 3600, 30 * 86400])
def test_expired_token(client, user, settings, seconds_ago):
    # The claims the service issues (ver included), moved into the past and signed with its key.
    issued = int(time.time()) - seconds_ago - 86400
    expired = resign(user.token, settings.secret_key, iat=issued, exp=issued + 86400)

    response = client.get(PROTECTED, headers=bearer(expired))

    assert_unauthorized(response, EXPIRED_TOKEN)


def test_a_token_seen_before_is_refused_once_it_expires(client, user, settings, monkeypatch):
    # Verified claims are remembered between requests: expiry must still be checked each time.
    now = int(time.time())
    leeway = 5
    nearly_expired = resign(user.token, settings.secret_key, iat=now - 100, exp=now - leeway + 60)

    first = client.get(PROTECTED, headers=bearer(nearly_expired))
    monkeypatch.setattr(security, "now", lambda: now + 61)  # a minute later, by the service's clock
    again = client.get(PROTECTED, headers=bearer(nearly_expired))

    assert first.status_code == 200, first.text
    assert_unauthorized(again, EXPIRED_TOKEN)


def test_a_token_signed_by_another_deployment_is_refused(client, user, make_app):
    with make_app(secret_key=OTHER_KEY).test_client() as other_deployment:
        assert_unauthorized(other_deployment.get(PROTECTED, headers=user.headers), INVALID_TOKEN)


@pytest.mark.parametrize("path", [LOGOUT, RESET, PROTECTED, f"{PROTECTED}/1", f"{PROTECTED}/1/items/1"])
def test_protected_operations_need_a_token(client, path):
    method = "POST" if path.startswith("/v1/auth") else "GET"
    assert_unauthorized(client.request(method, path), NO_HEADER)


# --- logout -------------------------------------------------------------------------


def test_logout(client, user, auth):
    second = auth.login(user.email, user.password).json()["auth_token"]

    response = client.post(LOGOUT, headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {"status": "success", "message": "Successfully logged out"}
    assert_unauthorized(client.get(PROTECTED, headers=user.headers), REVOKED_TOKEN)
    # Only that token: the same user's other sessions go on.
    assert_token_works(client, second)


def test_logout_is_seen_at_once_by_every_process(client, user, make_app):
    with make_app().test_client() as other_process:
        assert other_process.get(PROTECTED, headers=user.headers).status_code == 200

        assert client.post(LOGOUT, headers=user.headers).status_code == 200

        assert_unauthorized(other_process.get(PROTECTED, headers=user.headers), REVOKED_TOKEN)


def test_logout_twice(client, user):
    assert client.post(LOGOUT, headers=user.headers).status_code == 200
    assert_unauthorized(client.post(LOGOUT, headers=user.headers), REVOKED_TOKEN)


def test_logout_does_not_affect_other_users(client, user, other_user):
    client.post(LOGOUT, headers=user.headers)
    assert_token_works(client, other_user.token)


# --- password reset -----------------------------------------------------------------


def test_reset_password(client, user, auth, settings):
    earlier = auth.login(user.email, user.password).json()["auth_token"]

    response = reset_password(client, user, user.password, "a-new-password")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["message"] == "Password reset successfully"
    assert_token_works(client, body["auth_token"])
    # A token issued in the very second of the reset, before it, is revoked too:
    # comparing `iat` with the time of the reset would let it through.
    new_iat = unverified_claims(body["auth_token"])["iat"]
    same_second = resign(earlier, settings.secret_key, iat=new_iat, exp=new_iat + 86400)
    for token in (user.token, earlier, same_second):
        assert_unauthorized(client.get(PROTECTED, headers=bearer(token)), REVOKED_TOKEN)
    assert auth.login(user.email, "a-new-password").status_code == 200
    assert_unauthorized(auth.login(user.email, user.password), WRONG_LOGIN)


def test_reset_password_is_seen_at_once_by_every_process(client, user, make_app):
    with make_app().test_client() as other_process:
        assert reset_password(client, user, user.password, "a-new-password").status_code == 200
        assert_unauthorized(other_process.get(PROTECTED, headers=user.headers), REVOKED_TOKEN)


def test_reset_password_with_a_wrong_old_password(client, user, auth):
    response = reset_password(client, user, "not-the-password", "a-new-password")

    assert_unauthorized(response, "Incorrect password")
    assert_token_works(client, user.token)
    assert auth.login(user.email, user.password).status_code == 200


def test_reset_password_with_a_mismatched_confirmation(client, user, auth):
    response = reset_password(client, user, user.password, "a-new-password", "another-password")

    assert_failed(response, 400, "New Passwords do not match")
    assert auth.login(user.email, user.password).status_code == 200


BAD_RESETS = {
    "new password too short": {
        "oldPassword": "secret-password",
        "newPassword": "abc",
        "passwordConfirmation": "abc",
    },
    "new password too long": {
        "oldPassword": "secret-password",
        "newPassword": "p" * 129,
        "passwordConfirmation": "p" * 129,
    },
    "no new password": {"oldPassword": "secret-password", "passwordConfirmation": "a-new-password"},
    "no confirmation": {"oldPassword": "secret-password", "newPassword": "a-new-password"},
    "no old password": {"newPassword": "a-new-password", "passwordConfirmation": "a-new-password"},
    "extra field": {
        "oldPassword": "secret-password",
        "newPassword": "a-new-password",
        "passwordConfirmation": "a-new-password",
        "email": "someone@bucketmail.com",
    },
    "new password a number": {
        "oldPassword": "secret-password",
        "newPassword": 12345,
        "passwordConfirmation": 12345,
    },
}


@pytest.mark.parametrize("body", BAD_RESETS.values(), ids=BAD_RESETS.keys())
def test_reset_password_refuses_a_bad_body(client, user, auth, body):
    response = client.post(RESET, json=body, headers=user.headers)

    assert_failed(response, 400)
    assert_token_works(client, user.token)
    assert auth.login(user.email, user.password).status_code == 200


def test_reset_password_needs_a_valid_token(client, user):
    client.post(LOGOUT, headers=user.headers)
    response = reset_password(client, user, user.password, "a-new-password")
    assert_unauthorized(response, REVOKED_TOKEN)


# --- the signing key ----------------------------------------------------------------

POSTGRES_URL = "postgresql://bucketlist@127.0.0.1:5432/bucketlist"


def test_postgres_without_a_secret_key_refuses_to_start():
    settings = Settings.from_env({"DATABASE_URL": POSTGRES_URL})
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        settings.resolved_secret_key()


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
def test_a_short_secret_key_is_refused(tmp_path, database):
    url = POSTGRES_URL if database == "postgres" else f"sqlite:///{tmp_path / 'bucketlist.sqlite3'}"
    settings = Settings.from_env({"DATABASE_URL": url, "SECRET_KEY": "k" * 31})
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        settings.resolved_secret_key()


def test_a_given_secret_key_is_used_as_it_is(tmp_path):
    key = "k" * 32
    settings = Settings.from_env({"DATABASE_URL": POSTGRES_URL, "SECRET_KEY": key})
    assert settings.resolved_secret_key() == key


def test_sqlite_generates_a_secret_key_once_and_keeps_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'bucketlist.sqlite3'}"

    first = Settings.from_env({"DATABASE_URL": url}).resolved_secret_key()
    again = Settings.from_env({"DATABASE_URL": url}).resolved_secret_key()
    elsewhere = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}"})

    assert len(first.encode()) >= 32
    assert again == first
    assert elsewhere.resolved_secret_key() != first
    # Kept beside the database file, so it survives restarts with the data it signs for.
    assert any(first in path.read_text() for path in tmp_path.iterdir())


def test_settings_defaults():
    settings = Settings.from_env({})
    assert settings.token_ttl == 86400
    assert settings.bcrypt_rounds == 12
    assert settings.page_size == 20
    assert settings.cors_origins == ("*",)
    assert settings.threads == 0
    assert settings.database_url.startswith("sqlite:")


def test_settings_from_the_environment():
    settings = Settings.from_env(
        {
            "DATABASE_URL": POSTGRES_URL,
            "SECRET_KEY": "k" * 40,
            "BUCKETLIST_TOKEN_TTL": "60",
            "BUCKETLIST_BCRYPT_ROUNDS": "4",
            "BUCKETLIST_PAGE_SIZE": "5",
            "BUCKETLIST_CORS_ORIGINS": "https://a.example.org, https://b.example.org",
            "BUCKETLIST_THREADS": "3",
        }
    )
    assert settings.database_url == POSTGRES_URL
    assert settings.token_ttl == 60
    assert settings.bcrypt_rounds == 4
    assert settings.page_size == 5
    assert settings.cors_origins == ("https://a.example.org", "https://b.example.org")
    assert settings.threads == 3


@pytest.mark.parametrize(
    "name, value",
    [
        ("BUCKETLIST_TOKEN_TTL", "a day"),
        ("BUCKETLIST_TOKEN_TTL", "0"),
        ("BUCKETLIST_PAGE_SIZE", "101"),
        ("BUCKETLIST_THREADS", "65"),
    ],
)
def test_unusable_settings_are_refused(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})
