"""Opaque tokens the service hands out and must recognise again: list cursors, sync tokens.

A token is `<payload>.<signature>`, both base64url without padding. The signature is 128 bits
of HMAC-SHA-256 over the encoded payload and what the token is bound to (the request's own
user, list, query...: carried by the request, not by the token), under a key derived from the
app's secret for one purpose only, so that a token of one kind is never accepted as another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SIGNATURE_BYTES = 16


class Signer:
    def __init__(self, secret: str, purpose: bytes) -> None:
        self._key = hmac.new(secret.encode(), purpose, hashlib.sha256).digest()

    def seal(self, payload: bytes, binding: bytes = b"") -> str:
        encoded = _b64(payload)
        return f"{encoded}.{_b64(self._signature(encoded, binding))}"

    def open(self, token: str, binding: bytes = b"") -> bytes:
        """The payload of a token this signer sealed with `binding`; ValueError otherwise."""
        encoded, dot, signature = token.partition(".")
        if not dot or not encoded.isascii() or not signature.isascii():
            raise ValueError("not a token")
        try:
            valid = hmac.compare_digest(_unb64(signature), self._signature(encoded, binding))
            payload = _unb64(encoded)
        except binascii.Error:
            raise ValueError("not base64url") from None
        if not valid:
            raise ValueError("wrong signature")
        return payload

    def _signature(self, encoded: str, binding: bytes) -> bytes:
        message = encoded.encode("ascii") + b"\n" + binding
        return hmac.new(self._key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
