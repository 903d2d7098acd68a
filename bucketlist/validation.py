"""Request validation driven by the spec, with the contract's messages.

connexion's validators check the spec's schemas; these subclasses only change what a
failure says (every problem counted, the first 20 listed, each naming its field) and how a
JSON body is read: strictly UTF-8, no NaN or Infinity, no duplicate keys, no lone
surrogates, nothing that would later surprise the database or the handlers.

Every step costs time linear in the body, with small constants, whatever its shape: a body
is read with the event loop held (handlers and validation run on it), so a 1 MiB body
built to be slow must not hold up the worker for long (`tools/bench/abuse.py` measures it).
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import json
import math
import re
import typing as t
from collections.abc import Iterator

from connexion.datastructures import MediaTypeDict
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from jsonschema.validators import extend
from starlette.datastructures import Headers
from starlette.requests import Request

from .errors import WRONG_CONTENT_TYPE, ApiError

NOTHING_TO_CHANGE = "No attribute or value was specified, nothing was changed"
NOT_AN_OBJECT = "Request body must be a JSON object"
ASCII_INTEGER = re.compile(r"-?[0-9]+\Z")
# Python converts at most 4,300 digits to an integer (a guard against quadratic parsing) and
# raises beyond; any integer over 30 digits is beyond every bound of the spec.
BEYOND_ANY_BOUND = 10**30


def bounded_int(text: str) -> int:
    """The integer an ASCII decimal string (a sign allowed) spells; written with more than 30
    digits (leading zeros too: the handler's own conversion would fail on them), one just as
    far beyond every bound of the spec, so that it is refused as too large (or too small),
    never converted at a cost or with an error."""
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if len(digits) > 30:
        return sign * BEYOND_ANY_BOUND
    return sign * int(digits or "0")


# A failure lists this many problems, then one entry saying how many more there are.
MAX_LISTED = 20
# Names are shown up to this many characters in messages (a key can be 1 MiB long).
SHOWN_NAME_CHARS = 100

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a list",
    "null": "null",
}


Entry = dict[str, str | None]


class ValidationFailed(ApiError):
    def __init__(self, message: str, errors: list[Entry] | None = None) -> None:
        super().__init__(400, message, errors=errors)


def shown(name: str) -> str:
    """A name as messages show it: cut short, and encodable (a key may hold a lone surrogate)."""
    if len(name) > SHOWN_NAME_CHARS:
        name = name[:SHOWN_NAME_CHARS] + "…"
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


class Problems:
    """Every problem of a request counted, the first MAX_LISTED of them kept as entries.

    Entries come in the order jsonschema reports them (sorted by field). Unknown keys, of
    which a body can hold a hundred thousand, come as one batch: counted, with only the
    first few described (`add_batch`), and listed in the room the other problems leave, so
    that a missing field is not pushed out of the list by 90,000 unknown ones.
    """

    def __init__(self) -> None:
        self._parts: list[Entry | tuple[int, list[Entry]]] = []
        self._seen: set[tuple[str | None, str | None]] = set()
        self.count = 0
        self.missing: str | None = None  # the first "Missing <name> attribute"

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, entry: Entry, *, missing: bool = False) -> None:
        key = (entry["field"], entry["message"])
        if key in self._seen:
            return
        self._seen.add(key)
        self._parts.append(entry)
        self.count += 1
        if missing and self.missing is None:
            self.missing = entry["message"]

    def add_batch(self, count: int, first: list[Entry]) -> None:
        """`count` distinct problems, of which `first` (at least MAX_LISTED of them) are described."""
        if count:
            self._parts.append((count, first))
            self.count += count

    def extend(self, other: Problems) -> None:
        for part in other._parts:
            if isinstance(part, dict):
                self.add(part, missing=part["message"] == other.missing)
            else:
                self.add_batch(*part)

    def entries(self) -> list[Entry]:
        """At most MAX_LISTED entries, then `{"field": None, "message": "and N more problems"}`."""
        room = MAX_LISTED - sum(1 for part in self._parts if isinstance(part, dict))
        listed: list[Entry] = []
        for part in self._parts:
            if isinstance(part, dict):
                listed.append(part)
            else:
                first = part[1][: max(0, room)]
                room -= len(first)
                listed.extend(first)
        listed = listed[:MAX_LISTED]
        if self.count > len(listed):
            listed.append({"field": None, "message": f"and {self.count - len(listed)} more problems"})
        return listed

    def headline(self) -> str:
        """The one sentence: a missing field first, then "nothing to change", then the first."""
        if self.missing is not None:
            return self.missing
        messages = [
            part["message"] if isinstance(part, dict) else part[1][0]["message"] for part in self._parts
        ]
        if NOTHING_TO_CHANGE in messages:
            return NOTHING_TO_CHANGE
        return messages[0]


def _single(entry: Entry) -> Problems:
    problems = Problems()
    problems.add(entry)
    return problems


def _unknown_keys(instance: dict, schema: dict, prefix: str) -> tuple[int, list[Entry]]:
    """How many keys of `instance` the schema does not know, and the first few, in body order."""
    known = schema.get("properties", {})
    count = len(instance) - len(instance.keys() & known.keys())
    first = itertools.islice((name for name in instance if name not in known), MAX_LISTED)
    return count, [
        {"field": _join(prefix, shown(name)), "message": f"{shown(name)} is not a field that can be set here"}
        for name in first
    ]


def _unknown_parameters(names: set[str]) -> tuple[int, list[Entry]]:
    first = heapq.nsmallest(MAX_LISTED, names)
    return len(names), [
        {"field": shown(name), "message": f"{shown(name)} is not a parameter of this operation"}
        for name in first
    ]


def _field(error: ValidationError, prefix: str = "") -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join([prefix] + parts if prefix else parts) or "body"


def describe(error: ValidationError, field: str) -> list[Entry]:
    """Turn one jsonschema error into `{field, message}` entries (unknown keys: see `collect`)."""
    kind, value, schema = error.validator, error.validator_value, error.schema
    instance = error.instance
    if kind == "required":
        missing = [name for name in value if isinstance(instance, dict) and name not in instance]
        return [{"field": _join(field, name), "message": f"Missing {name} attribute"} for name in missing]
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
    elif kind == "enum":
        message = f"{name} must be " + " or ".join(str(choice) for choice in value)
    elif kind == "pattern":
        message = schema.get("x-pattern-message", f"{name} has a character that is not allowed")
    else:
        message = f"{name} is not valid: {error.message}"
    return [{"field": field, "message": message}]


def _join(prefix: str, name: str) -> str:
    return name if prefix in ("", "body") else f"{prefix}.{name}"


def collect(validator: Draft4Validator, instance: t.Any, prefix: str = "") -> Problems:
    """Every problem jsonschema finds, each counted once.

    Problems are few (one per keyword of a known field) except unknown keys: the schema's
    `additionalProperties` reports them as one error, and they are counted here in one pass.
    """
    problems = Problems()
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        field = _field(error, prefix)
        if error.validator == "additionalProperties" and error.validator_value is False:
            problems.add_batch(*_unknown_keys(error.instance, error.schema, field))
            continue
        for entry in describe(error, field):
            problems.add(entry, missing=error.validator == "required")
    return problems


# jsonschema's own keywords put repr(instance) into every message: for a name that is a list
# of 500,000 numbers, or lists nested 900 deep repeated over 1 MiB (612 ms), that repr was
# most of the cost, and `describe` never shows it. These check the same things and say little;
# `pattern` is not tried on a string that is too long already (the length says enough), and
# `additionalProperties: false` only notices unknown keys (`collect` counts them).
def _type(
    validator: Draft4Validator, types: t.Any, instance: t.Any, schema: dict
) -> Iterator[ValidationError]:
    if instance is None and (schema.get("nullable") or schema.get("x-nullable") is True):
        return
    kinds = types if isinstance(types, list) else [types]
    if not any(validator.is_type(instance, kind) for kind in kinds):
        yield ValidationError(f"is not of type {', '.join(kinds)}")


def _min_length(
    validator: Draft4Validator, limit: int, instance: t.Any, schema: dict
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and len(instance) < limit:
        yield ValidationError("is too short")


def _max_length(
    validator: Draft4Validator, limit: int, instance: t.Any, schema: dict
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and len(instance) > limit:
        yield ValidationError("is too long")


def _pattern(
    validator: Draft4Validator, pattern: str, instance: t.Any, schema: dict
) -> Iterator[ValidationError]:
    if not isinstance(instance, str) or len(instance) > schema.get("maxLength", len(instance)):
        return
    if not re.search(pattern, instance):
        yield ValidationError("does not match the pattern")


def _additional_properties(
    validator: Draft4Validator, allowed: t.Any, instance: t.Any, schema: dict
) -> Iterator[ValidationError]:
    if allowed is not False or "patternProperties" in schema:
        yield from Draft4Validator.VALIDATORS["additionalProperties"](validator, allowed, instance, schema)
    elif isinstance(instance, dict):
        if not instance.keys() <= schema.get("properties", {}).keys():
            yield ValidationError("has fields that are not allowed")


def _min_properties(
    validator: Draft4Validator, limit: int, instance: t.Any, schema: dict
) -> Iterator[ValidationError]:
    if isinstance(instance, dict) and len(instance) < limit:
        yield ValidationError("has too few fields")


RequestValidator = extend(
    Draft4RequestValidator,
    {
        "type": _type,
        "minLength": _min_length,
        "maxLength": _max_length,
        "pattern": _pattern,
        "additionalProperties": _additional_properties,
        "minProperties": _min_properties,
    },
)

# Building a jsonschema validator is not free; the spec's schemas never change.
_compiled: dict[int, tuple[dict, Draft4Validator]] = {}


def compiled(schema: dict) -> Draft4Validator:
    key = id(schema)
    hit = _compiled.get(key)
    if hit is None or hit[0] is not schema:
        hit = (schema, RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
        _compiled[key] = hit
    return hit[1]


def _refuse_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


class DuplicateField(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _object_without_duplicates(pairs: list[tuple[str, t.Any]]) -> dict:
    """json's object_pairs_hook: one dict() and a length check per object, so it stays linear."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateField(name)
            seen.add(name)
    return obj


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off, for parsing and validating one body.

    json allocates a container for every [] or {}: 1 MiB of them is 350,000 lists, whose
    allocation set off repeated collections that traverse the whole heap (json.loads of
    "[],[],..." took 73 ms, 20 ms with the collector paused). Parsing makes no reference
    cycles; what the collector would have found is nothing, so pausing it loses nothing.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _lone_surrogate(body: t.Any) -> bool:
    """A lone surrogate among the keys or string values of a body that passed the schemas (so
    it is small and flat: every field is a string, a boolean or null)."""
    if not isinstance(body, dict):
        return False
    texts = [*body, *(value for value in body.values() if isinstance(value, str))]
    try:
        # One encode for all of them; Python never pairs surrogates across a join.
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refused(message: str, field: str = "body") -> ValidationFailed:
    return ValidationFailed(message, [{"field": field, "message": message}])


def parse_json(raw: bytes) -> t.Any:
    """Strict JSON: what Python's json module lets through but a database must not see.

    Lone surrogates are looked for once the body has passed the schemas (see `_checked`).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "Request body is not valid UTF-8", [{"field": "body", "message": "not valid UTF-8"}]
        ) from None
    try:
        body = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_object_without_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise _refused(f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _refused("Request body is nested too deeply") from None
    except DuplicateField as exc:
        raise _refused(f"duplicate field '{shown(exc.name)}'", shown(exc.name)) from None
    except ValueError as exc:
        # NaN, Infinity, a float that overflows, an integer of thousands of digits.
        if "integer string conversion" in str(exc):
            raise _refused("Malformed JSON: a number has more than 4300 digits") from None
        raise _refused(f"Malformed JSON: {exc}") from None
    return body


class StrictJSONBodyValidator(JSONRequestBodyValidator):
    async def wrap_receive(self, receive, *, scope):
        headers = Headers(scope=scope)
        length = int(headers.get("content-length") or 0)
        if length and not headers.get("content-type"):
            # connexion would validate it as JSON and hand the handler raw bytes.
            raise ApiError(415, WRONG_CONTENT_TYPE)
        if not length:
            self._fail(_single({"field": "body", "message": NOT_AN_OBJECT}))
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream, scope) -> t.Any:
        return self._checked(b"".join([chunk async for chunk in stream]))

    def _validate(self, body: t.Any) -> None:
        """Nothing left to do: `_checked` validated the body while it parsed it."""

    def _checked(self, raw: bytes) -> t.Any:
        """The body, parsed and valid; or ValidationFailed.

        A body that fails is dropped before the collector resumes: had it survived the pause
        (in an exception's frames), the collector's next pass would have walked all 500,000
        of its lists.
        """
        with collector_paused():
            body = parse_json(raw)
            problems = self._problems(body)
            if problems:
                del body
        if problems:
            self._fail(problems)
        # Only now: the body is small. The keys of one that failed are escaped where shown,
        # and anything nested in it was never going to reach a handler.
        if _lone_surrogate(body):
            raise _refused("Request body holds text that is not valid Unicode (a lone surrogate)")
        return body

    def _problems(self, body: t.Any) -> Problems:
        if not isinstance(body, dict) and self._schema.get("type") == "object":
            # The answer is known; jsonschema would still look at 1 MiB of array.
            return _single({"field": "body", "message": NOT_AN_OBJECT})
        return collect(compiled(self._schema), body)

    def _fail(self, problems: Problems) -> t.NoReturn:
        # An operation can fix its one sentence in the spec (the auth endpoints do).
        message = self._schema.get("x-error-message") or problems.headline()
        raise ValidationFailed(message, problems.entries())


class SpecParameterValidator(ParameterValidator):
    def validate_request(self, request) -> None:
        # The query string as sent (connexion's query_params are already converted to types).
        raw_query = Request(request.scope).query_params if request.scope.get("query_string") else {}
        if self.strict_validation and raw_query:
            known = {p["name"] for p in self.parameters.get("query", [])} | self.security_query_params
            # Names as connexion reads them (it folds `a[b]` keys), once any is not a known one.
            extra = set() if raw_query.keys() <= known else set(request.query_params.keys()) - known
            if extra:
                unknown = Problems()
                unknown.add_batch(*_unknown_parameters(extra))
                entries = unknown.entries()
                named = ", ".join(e["field"] for e in entries if e["field"] is not None)
                more = f" and {len(extra) - MAX_LISTED} more" if len(extra) > MAX_LISTED else ""
                raise ValidationFailed(f"Unknown query parameter: {named}{more}", entries)
        problems = Problems()
        for location in ("query", "path", "header"):
            for param in self.parameters.get(location, []):
                self._check(problems, location, param, request, raw_query)
        if problems:
            raise ValidationFailed(problems.headline(), problems.entries())

    def _check(self, problems: Problems, location: str, param: dict, request, raw_query) -> None:
        name = param["name"]
        schema = param.get("schema", {})
        if location == "query":
            raw = raw_query.get(name)
        elif location == "header":
            raw = request.headers.get(name)
        else:
            raw = request.scope.get("path_params", {}).get(name)  # an int: the route converts it
        if raw is None:
            if param.get("required"):
                problems.add({"field": name, "message": f"Missing {location} parameter {name}"})
            return
        kind = schema.get("type")
        if kind == "integer":
            # Python's int() reads "1_0" as 10 and "١" as 1; an id or page must be ASCII digits.
            if not ASCII_INTEGER.match(str(raw)):
                problems.add({"field": name, "message": f"{name} must be an integer"})
                return
            # What connexion converts it to. Ids, page and limit arrive with every request: an
            # integer within the schema's bounds needs no trip through jsonschema.
            value = bounded_int(str(raw))
            if schema.get("minimum", value) <= value <= schema.get("maximum", value):
                return
        elif kind == "string" or location == "header":
            value = raw  # connexion converts nothing
        else:
            value = (request.path_params if location == "path" else request.query_params).get(name)
        problems.extend(collect(compiled(schema), value, prefix=name))


def validator_map() -> dict:
    body = MediaTypeDict(dict(VALIDATOR_MAP["body"]))
    body["*/*json"] = StrictJSONBodyValidator
    return {**VALIDATOR_MAP, "parameter": SpecParameterValidator, "body": body}
