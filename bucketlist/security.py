"""Passwords (bcrypt) and bearer tokens (HS256 JWT), and the spec's x-bearerInfoFunc."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from functools import cached_property

import bcrypt
import jwt

from .errors import EXPIRED_TOKEN, INVALID_TOKEN, Unauthorized
from .observability import note_user
from .request import STATE_KEY

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5
REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "ver"]
MAX_USER_ID = 2**31 - 1
VERIFIED_CACHE_SIZE = 4096


def now() -> float:
    """The clock tokens are issued and checked by (one place, so that tests can move it)."""
    return time.time()


def _prehash(password: str) -> bytes:
    """bcrypt reads 72 bytes at most; a SHA-256 digest first makes every character count.

    Base64 keeps NUL bytes (which bcrypt refuses) out, as passlib's bcrypt_sha256 does.
    """
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: str) -> bool:
    return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))


@dataclass(frozen=True)
class TokenService:
    secret: str
    ttl: int
    bcrypt_rounds: int
    # Signature checks cost more than the rest of the token check; revocation is still
    # read from the database on every request.
    _verified: dict[str, dict] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def dummy_hash(self) -> str:
        """Checked against when the email is unknown, so that costs as much as a wrong password."""
        return hash_password(secrets.token_urlsafe(16), self.bcrypt_rounds)

    def issue(self, user_id: int, version: int) -> tuple[str, dict]:
        issued = int(now())
        claims = {
            "sub": str(user_id),
            "iat": issued,
            "exp": issued + self.ttl,
            "jti": secrets.token_urlsafe(16),
            "ver": version,
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM), claims

    def decode(self, token: str) -> dict:
        """Verified claims; a token already verified is only checked for expiry again."""
        claims = self._verified.get(token)
        if claims is not None:
            if claims["exp"] <= now() - LEEWAY_SECONDS:
                raise Unauthorized(EXPIRED_TOKEN)
            return claims
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)), None)  # the oldest entry
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> dict:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized(EXPIRED_TOKEN) from None
        except jwt.InvalidTokenError:
            raise Unauthorized(INVALID_TOKEN) from None
        sub, version, jti = claims["sub"], claims["ver"], claims["jti"]
        if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and 0 < int(sub) <= MAX_USER_ID):
            raise Unauthorized(INVALID_TOKEN)
        if not (type(version) is int and isinstance(jti, str) and 0 < len(jti) <= 64):
            raise Unauthorized(INVALID_TOKEN)
        return claims


def bearer_info(token: str, request) -> dict:
    """connexion's bearer check, on the event loop: the signature, then revocation in the
    database (bucketlist.revocation: one indexed row on a connection of its own)."""
    state = request.scope[STATE_KEY]
    claims = state.tokens.decode(token)
    state.revocation.refuse_if_revoked(claims)
    user = int(claims["sub"])
    note_user(request.scope, user)  # for the request's log line
    return {"sub": user, "jti": claims["jti"], "exp": claims["exp"]}
