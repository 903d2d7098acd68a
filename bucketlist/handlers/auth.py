"""Accounts and tokens: operationIds `auth.*` in the spec."""

from __future__ import annotations

from datetime import UTC, datetime

from pony.orm import TransactionIntegrityError, db_session

from ..errors import ApiError, Unauthorized
from ..models import normalise_email
from ..ratelimit import client_address
from ..security import check_password, hash_password
from ..state import current

USER_EXISTS = "Failed, User already exists, Please sign In"
BAD_CREDENTIALS = "User does not exist or password is incorrect"


def _token_reply(message: str, user_id: int, version: int) -> dict:
    token, _claims = current().tokens.issue(user_id, version)
    return {"status": "success", "message": message, "auth_token": token}


def register(body: dict):
    state = current()
    email = normalise_email(body["email"])
    state.limiter.count_registration(client_address())
    # Hash before the transaction: bcrypt is slow on purpose, a write lock should not wait on it.
    password_hash = hash_password(body["password"], state.settings.bcrypt_rounds)
    try:
        with db_session:
            if state.db.User.exists(email=email):
                raise ApiError(409, USER_EXISTS)
            user = state.db.User(email=email, password_hash=password_hash)
            user.flush()
            user_id, version = user.id, user.token_version
    except TransactionIntegrityError:
        # The same email registered by a concurrent request between our check and insert.
        raise ApiError(409, USER_EXISTS) from None
    return _token_reply("Successfully registered", user_id, version), 201


def login(body: dict) -> dict:
    state = current()
    email = normalise_email(body["email"])
    address = client_address()
    state.limiter.check_login(email, address)
    with db_session:
        user = state.db.User.get(email=email)
        found = (user.id, user.password_hash, user.token_version) if user else None
    if found is None:
        # Same work as a wrong password, so response times do not reveal who is registered.
        check_password(body["password"], state.tokens.dummy_hash)
        state.limiter.failed_login(email, address)
        raise Unauthorized(BAD_CREDENTIALS)
    user_id, password_hash, version = found
    if not check_password(body["password"], password_hash):
        state.limiter.failed_login(email, address)
        raise Unauthorized(BAD_CREDENTIALS)
    return _token_reply("Successfully logged In", user_id, version)


def logout(user: int, token_info: dict) -> dict:
    db = current().db
    expires_at = datetime.fromtimestamp(token_info["exp"], UTC).replace(tzinfo=None)
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        with db_session:
            if not db.RevokedToken.exists(jti=token_info["jti"]):
                db.RevokedToken(jti=token_info["jti"], expires_at=expires_at)
            # Expired tokens are refused anyway; their revocations need not be kept.
            db.RevokedToken.select(lambda t: t.expires_at < now).delete(bulk=True)
    except TransactionIntegrityError:
        pass  # a concurrent logout of the same token revoked it first: the outcome is the same
    return {"status": "success", "message": "Successfully logged out"}


def reset_password(user: int, body: dict) -> dict:
    state = current()
    if body["newPassword"] != body["passwordConfirmation"]:
        raise ApiError(400, "New Passwords do not match")
    state.limiter.check_reset(user)
    try:
        with db_session:
            account = state.db.User.get(id=user)
            if account is None or not check_password(body["oldPassword"], account.password_hash):
                raise Unauthorized("Incorrect password")
            account.password_hash = hash_password(body["newPassword"], state.settings.bcrypt_rounds)
            # Every token issued before now carries the old version and is refused from here on.
            account.token_version += 1
            account.flush()
            user_id, version = account.id, account.token_version
    except Unauthorized:
        # Counted once the session is over: on SQLite it must not wait on our own transaction.
        state.limiter.failed_reset(user)
        raise
    return _token_reply("Password reset successfully", user_id, version)
