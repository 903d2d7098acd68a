"""Schemathesis CLI hooks for `tools/fuzz.py` (loaded through SCHEMATHESIS_HOOKS=fuzz_hooks).

Authentication: one static token does not survive a fuzz run, because the fuzzer calls
`POST /auth/logout` with it early and every later request would see only 401s. So the
token comes from this provider instead: it registers a fresh user against the server
under test and caches that user's token. When a request answers 401 (the token was
logged out, or revoked by a password reset), schemathesis drops the cached token, calls
`get` again (a new user) and replays the request once with the new token. Requests that
schemathesis deliberately sends without a valid token keep their 401.
"""

from __future__ import annotations

import ipaddress
import secrets

import requests
import schemathesis

REGISTER_TIMEOUT_SECONDS = 10
EXAMPLE_PASSWORD = "123456"
# Far longer than any run: a token changes only when the server refuses it (401).
TOKEN_CACHE_SECONDS = 24 * 3600


@schemathesis.auth(refresh_interval=TOKEN_CACHE_SECONDS, retry_on=[401])
class FreshUserToken:
    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        base_url = context.operation.schema.get_base_url()
        credentials = {
            "email": f"fuzz-{secrets.token_hex(8)}@bucketmail.com",
            # The spec's example password: the example password reset then succeeds, and
            # the fuzzer covers a reset that revokes the token (then re-authenticates).
            "password": EXAMPLE_PASSWORD,
        }
        response = requests.post(
            f"{base_url}/auth/register",
            json=credentials,
            # One address may register 20 accounts an hour. The server trusts its loopback
            # peer as a proxy (the default), so each account comes "from" an address of its own.
            headers={"X-Forwarded-For": str(ipaddress.IPv6Address("2001:db8::") + secrets.randbits(64))},
            timeout=REGISTER_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        return response.json()["auth_token"]

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, **kwargs) -> None:
    """Rules JSON Schema cannot state, kept in valid generated requests (as tests/test_schemathesis.py
    does): a `cursor` or a sync `since` is valid only if this server signed it for this user (any
    other is a correct 400), and an account's deletion needs the account's password."""
    if case.meta is not None and case.meta.generation.mode is not schemathesis.GenerationMode.POSITIVE:
        return
    if case.query:
        case.query.pop("cursor", None)
        if case.operation.path == "/sync":
            case.query.pop("since", None)
    if case.operation.path == "/account" and isinstance(case.body, dict):
        case.body["password"] = EXAMPLE_PASSWORD
