"""The spec, proven against the app: schemathesis generates requests from openapi.json.

Every default check runs on every operation (no 5xx, responses and status codes as
documented, schema-valid data accepted, invalid data refused, unsupported methods refused,
auth not ignored, ...), with valid data and with data that breaks the schema, and a
stateful run follows the spec's links (create bucket -> add item -> update -> delete -> use
after delete). Examples per operation and mode: BUCKETLIST_FUZZ_EXAMPLES (default 30).
Derandomised unless BUCKETLIST_FUZZ_SEED is given, so a failure reproduces.
"""

from __future__ import annotations

import ipaddress
import os
import uuid
from pathlib import Path

import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXAMPLES = int(os.environ.get("BUCKETLIST_FUZZ_EXAMPLES", "30"))
SEED = os.environ.get("BUCKETLIST_FUZZ_SEED")
PASSWORD = "fuzz-password"
SPEC = yaml.safe_load((Path(__file__).parents[1] / "openapi" / "bucketlist.yaml").read_text())
MODES = [(GenerationMode.POSITIVE, "valid"), (GenerationMode.NEGATIVE, "invalid")]


def takes_input(item: dict, operation: dict) -> bool:
    """Invalid data needs somewhere to go: a parameter, a body or credentials (/healthz has none)."""
    security = operation.get("security", SPEC.get("security"))
    parameters = item.get("parameters") or operation.get("parameters")
    return bool(parameters or operation.get("requestBody") or security)


CASES = [
    pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path}-{label}")
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in {"get", "put", "post", "delete", "patch"}
    for mode, label in MODES
    if mode is GenerationMode.POSITIVE or takes_input(item, operation)
]


def fuzz_settings(examples: int = EXAMPLES) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        derandomize=SEED is None,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def fresh_token(app) -> str:
    """A new account for every case, so a generated logout or reset revokes nobody else.

    Each from an address of its own: one address may register 20 accounts an hour.
    """
    address = str(ipaddress.IPv6Address("2001:db8::") + uuid.uuid4().int % 2**64)
    with app.test_client(client=(address, 50000)) as client:
        response = client.post(
            "/v1/auth/register",
            json={"email": f"fuzz-{uuid.uuid4().hex}@bucketmail.com", "password": PASSWORD},
        )
    assert response.status_code == 201, response.text
    return response.json()["auth_token"]


def prepare(case, token: str) -> None:
    # In invalid-data mode schemathesis may deliberately send broken credentials: keep those.
    if not case.operation.schema.is_security_param_negated(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    # "New Passwords do not match" (400) is a rule JSON Schema cannot state: keep a valid
    # generated reset consistent, so the positive-data check sees real successes.
    if case.operation.path == "/auth/reset/password" and isinstance(case.body, dict):
        if case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE:
            case.body["passwordConfirmation"] = case.body.get("newPassword")
            case.body["oldPassword"] = PASSWORD
    # Likewise a sync token: only one this server signed for this user is valid (400 otherwise),
    # and a deletion's password must be the account's.
    if case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE:
        if case.operation.path == "/sync" and case.query:
            case.query.pop("since", None)
        if case.operation.path == "/account" and isinstance(case.body, dict):
            case.body["password"] = PASSWORD


def forged_cursor(case) -> bool:
    """A generated `cursor` can match the schema, never the server's signature (a rule JSON
    Schema cannot state): valid data otherwise, it must be refused as "Invalid cursor"."""
    positive = case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE
    return positive and "cursor" in (case.query or {})


@pytest.fixture
def api_schema(app, client):
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", app)
    # Valid requests whose precondition fails: a generated If-Match names a tag the resource
    # does not have (412), a generated Idempotency-Key can come back with another body in a
    # stateful run (422). The spec documents both; any other status still fails the check.
    acceptance = schema.config.checks.positive_data_acceptance
    acceptance.expected_statuses = [*acceptance.expected_statuses, "412", "422"]
    return schema


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_operation_keeps_its_contract(app, api_schema, method, path, mode):
    operation = api_schema[path][method]

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @fuzz_settings()
    def check(case):
        prepare(case, fresh_token(app))
        if forged_cursor(case):
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            assert (response.status_code, response.json()["message"]) == (400, "Invalid cursor")
        else:
            case.call_and_validate()

    if SEED is not None:
        check = hypothesis.seed(int(SEED))(check)
    check()


def test_linked_operations_keep_their_contract(app, api_schema):
    """Follows the spec's links: create bucket -> add item -> read, update, delete -> reuse."""
    base = api_schema.as_state_machine()

    class Scenario(base):
        def setup(self) -> None:
            self.token = fresh_token(app)

        def before_call(self, case) -> None:
            prepare(case, self.token)
            if forged_cursor(case):  # refused every time: test_every_operation_keeps_its_contract
                del case.query["cursor"]

    settings = fuzz_settings(max(10, EXAMPLES // 2))
    Scenario.run(settings=hypothesis.settings(settings, stateful_step_count=10))
