"""Request validation driven by the spec, with the contract's messages.

connexion's validators check the spec's schemas; these subclasses only change what a
failure says (every problem, each naming its field) and how a JSON body is read: strictly
UTF-8, no NaN or Infinity, no lone surrogates, nothing that would later surprise the
database or the handlers.
"""

from __future__ import annotations

import json
import math
import re
import typing as t

from connexion.datastructures import MediaTypeDict
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from starlette.datastructures import Headers
from starlette.requests import Request

from .errors import WRONG_CONTENT_TYPE, ApiError

NOTHING_TO_CHANGE = "No attribute or value was specified, nothing was changed"
NOT_AN_OBJECT = "Request body must be a JSON object"
ASCII_INTEGER = re.compile(r"-?[0-9]+\Z")

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a list",
    "null": "null",
}


class ValidationFailed(ApiError):
    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(400, message, errors=errors)


def _field(error: ValidationError, prefix: str = "") -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join([prefix] + parts if prefix else parts) or "body"


def describe(error: ValidationError, field: str) -> list[dict[str, str]]:
    """Turn one jsonschema error into `{field, message}` entries."""
    kind, value, schema = error.validator, error.validator_value, error.schema
    instance = error.instance
    if kind == "required":
        missing = [name for name in value if isinstance(instance, dict) and name not in instance]
        return [{"field": _join(field, name), "message": f"Missing {name} attribute"} for name in missing]
    if kind == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in known) if isinstance(instance, dict) else []
        return [
            {"field": _join(field, name), "message": f"{name} is not a field that can be set here"}
            for name in extra
        ]
    if kind == "minProperties":
        return [{"field": field, "message": NOTHING_TO_CHANGE}]
    name = field.rsplit(".", 1)[-1]
    if kind == "type":
        types = value if isinstance(value, list) else [value]
        if field == "body":
            message = NOT_AN_OBJECT
        else:
            message = f"{name} must be " + " or ".join(_TYPE_WORDS.get(x, x) for x in types)
            if schema.get("nullable"):
                message += " or null"
    elif kind == "minLength":
        message = f"{name} must be at least {value} character{'s' if value != 1 else ''} long"
    elif kind == "maxLength":
        message = f"{name} must be at most {value} characters long"
    elif kind == "minimum":
        message = f"{name} must be at least {value}"
    elif kind == "maximum":
        message = f"{name} must be at most {value}"
    elif kind == "pattern":
        message = schema.get("x-pattern-message", f"{name} has a character that is not allowed")
    else:
        message = f"{name} is not valid: {error.message}"
    return [{"field": field, "message": message}]


def _join(prefix: str, name: str) -> str:
    return name if prefix in ("", "body") else f"{prefix}.{name}"


def collect(validator: Draft4Validator, instance: t.Any, prefix: str = "") -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        for entry in describe(error, _field(error, prefix)):
            if entry not in problems:
                problems.append(entry)
    return problems


def headline(problems: list[dict[str, str]]) -> str:
    """The one sentence: a missing field first, then "nothing to change", then the first."""
    for entry in problems:
        if entry["message"].startswith("Missing "):
            return entry["message"]
    for entry in problems:
        if entry["message"] == NOTHING_TO_CHANGE:
            return NOTHING_TO_CHANGE
    return problems[0]["message"]


# Building a jsonschema validator is not free; the spec's schemas never change.
_compiled: dict[int, tuple[dict, Draft4Validator]] = {}


def compiled(schema: dict) -> Draft4Validator:
    key = id(schema)
    hit = _compiled.get(key)
    if hit is None or hit[0] is not schema:
        hit = (schema, Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
        _compiled[key] = hit
    return hit[1]


def _refuse_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def _has_lone_surrogate(value: t.Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json(raw: bytes) -> t.Any:
    """Strict JSON: what Python's json module lets through but a database must not see."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "Request body is not valid UTF-8", [{"field": "body", "message": "not valid UTF-8"}]
        ) from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        message = f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise ValidationFailed(message, [{"field": "body", "message": message}]) from None
    except RecursionError:
        message = "Request body is nested too deeply"
        raise ValidationFailed(message, [{"field": "body", "message": message}]) from None
    except ValueError as exc:
        # NaN, Infinity, a float that overflows, an integer of thousands of digits.
        message = f"Malformed JSON: {exc}"
        raise ValidationFailed(message, [{"field": "body", "message": message}]) from None
    if _has_lone_surrogate(body):
        message = "Request body holds text that is not valid Unicode (a lone surrogate)"
        raise ValidationFailed(message, [{"field": "body", "message": message}])
    return body


class StrictJSONBodyValidator(JSONRequestBodyValidator):
    async def wrap_receive(self, receive, *, scope):
        headers = Headers(scope=scope)
        length = int(headers.get("content-length") or 0)
        if length and not headers.get("content-type"):
            # connexion would validate it as JSON and hand the handler raw bytes.
            raise ApiError(415, WRONG_CONTENT_TYPE)
        if not length:
            self._fail([{"field": "body", "message": NOT_AN_OBJECT}])
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream, scope) -> t.Any:
        return parse_json(b"".join([chunk async for chunk in stream]))

    def _validate(self, body: t.Any) -> None:
        problems = collect(compiled(self._schema), body)
        if problems:
            self._fail(problems)

    def _fail(self, problems: list[dict[str, str]]) -> t.NoReturn:
        # An operation can fix its one sentence in the spec (the auth endpoints do).
        message = self._schema.get("x-error-message") or headline(problems)
        raise ValidationFailed(message, problems)


class SpecParameterValidator(ParameterValidator):
    def validate_request(self, request) -> None:
        if self.strict_validation:
            known = {p["name"] for p in self.parameters.get("query", [])} | self.security_query_params
            extra = sorted(set(request.query_params.keys()) - known)
            if extra:
                raise ValidationFailed(
                    f"Unknown query parameter: {', '.join(extra)}",
                    [
                        {"field": name, "message": f"{name} is not a parameter of this operation"}
                        for name in extra
                    ],
                )
        # The query string as sent (connexion's query_params are already converted to types).
        raw_query = Request(request.scope).query_params if self.parameters.get("query") else {}
        problems: list[dict[str, str]] = []
        for location in ("query", "path", "header"):
            for param in self.parameters.get(location, []):
                problems.extend(self._check(location, param, request, raw_query))
        if problems:
            raise ValidationFailed(problems[0]["message"], problems)

    def _check(self, location: str, param: dict, request, raw_query) -> list[dict[str, str]]:
        name = param["name"]
        schema = param.get("schema", {})
        if location == "query":
            raw = raw_query.get(name)
            value = request.query_params.get(name)
        elif location == "header":
            raw = value = request.headers.get(name)
        else:
            raw = request.scope.get("path_params", {}).get(name)
            value = request.path_params.get(name)
        if raw is None:
            if param.get("required"):
                return [{"field": name, "message": f"Missing {location} parameter {name}"}]
            return []
        if schema.get("type") == "integer":
            # Python's int() reads "1_0" as 10 and "١" as 1; an id or page must be ASCII digits.
            if not ASCII_INTEGER.match(str(raw)):
                return [{"field": name, "message": f"{name} must be an integer"}]
            # Ids, page and limit arrive with every request: an integer within the schema's
            # bounds needs no trip through jsonschema. Anything else is described by it.
            if schema.get("minimum", value) <= value <= schema.get("maximum", value):
                return []
        return collect(compiled(schema), value, prefix=name)


def validator_map() -> dict:
    body = MediaTypeDict(dict(VALIDATOR_MAP["body"]))
    body["*/*json"] = StrictJSONBodyValidator
    return {**VALIDATOR_MAP, "parameter": SpecParameterValidator, "body": body}
