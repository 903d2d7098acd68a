"""What the API shows of each resource, declared once: column, JSON name and kind of value.

Everything that spells out a resource's fields derives from its `Shape`: the select list
of its pages (bucketlist.listing) and of its single reads and writes (bucketlist.records),
the rendering of a row, the columns a create or update body sets. Adding an optional field is a column in the
model (or a migration), a line here and the spec's schemas; tests/test_shapes.py checks
that the three agree.

Rendering is on the hot path (every row of every page), so it stays a plain function over
a tuple: its source is generated from the declaration once, at import, and reads as if it
were written by hand (`Shape.source` shows it).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Stored as naive UTC: PostgreSQL `timestamp` (read as text, ISO datestyle, trailing zeros
# of the fraction dropped); SQLite text written by Pony, always with microseconds.
# Aliased: an output column named created_at would be what ORDER BY created_at sorts by,
# text instead of the indexed column, and every row of the parent would be sorted.
TEXT_SQL = {"PostgreSQL": "{0}::text AS {0}_text", "SQLite": "{0} AS {0}_text"}
DIALECTS = tuple(TEXT_SQL)


def iso(text: str) -> str:
    """'2026-11-27 00:55:56.4959' -> '2026-11-27T00:55:56.495900+00:00'.

    Takes the text either database gives back (PostgreSQL drops trailing zeros of the
    fraction, and a zero fraction altogether), so that every row renders alike.
    """
    if len(text) != 26:
        text = text + ".000000" if len(text) == 19 else text.ljust(26, "0")
    return f"{text[:10]}T{text[11:]}+00:00"


@dataclass(frozen=True, eq=False)  # each kind is one object, compared by identity
class Kind:
    """How one kind of value travels: database -> row -> JSON, and JSON -> column.

    The templates are Python (or SQL) with `{0}` for the value (or the column); they are
    pasted into the generated functions, so a conversion costs what it would by hand.
    """

    name: str
    render: str = "{0}"  # a row's value -> the JSON value
    select: Mapping[str, str] | None = None  # the column -> what a list selects, per dialect
    load: Callable[[Any], Any] | None = None  # a body's JSON value -> the column's value


PLAIN = Kind("plain")
BOOL = Kind("bool", render="bool({0})")  # SQLite stores 0 and 1
# The row holds the other resource's id (the model's attribute is the other entity).
REFERENCE = Kind("reference")
# Rows read timestamps as text, so no datetime is built and formatted again per row.
TIMESTAMP = Kind("timestamp", render="iso({0})", select=TEXT_SQL)


@dataclass(frozen=True)
class Field:
    json: str  # the name in the API
    column: str  # the table's column
    kind: Kind = PLAIN
    # Set from a create or update body (the spec says which of them, and which are required).
    writable: bool = False
    attr: str = ""  # the entity's attribute, when it is not named as the column
    # What a create stores when the body leaves a writable field out (the model's default).
    default: Any = None

    @property
    def attribute(self) -> str:
        return self.attr or self.column


class Shape:
    """A resource as the API shows it, with the functions derived from its fields."""

    def __init__(self, table: str, *fields: Field) -> None:
        for field in fields:
            # Column names become the generated code's variable names.
            if not field.column.isidentifier() or keyword.iskeyword(field.column):
                raise ValueError(f"{table}: column {field.column!r} is not a plain identifier")
        self.table = table
        self.fields = fields
        self.columns = tuple(field.column for field in fields)
        self.writable = tuple(field for field in fields if field.writable)
        self._select_lists = {
            dialect: ", ".join(_selected(field, dialect) for field in fields) for dialect in DIALECTS
        }
        self.source = _render_source(table, fields)
        namespace: dict[str, Any] = {"iso": iso}
        exec(compile(self.source, f"<shape of {table}>", "exec"), namespace)
        # A row (in `columns` order, timestamps as text) -> the resource's JSON.
        self.render: Callable[[tuple], dict[str, Any]] = namespace["render_row"]

    def select_list(self, dialect: str) -> str:
        """The columns of a page's rows, in the order `render` reads them."""
        return self._select_lists[dialect]

    def values(self, body: dict[str, Any], *, defaults: bool = True) -> dict[str, Any]:
        """The columns a create (`defaults`: every writable one) or an update body sets."""
        return {
            field.column: _loaded(field, body[field.json]) if field.json in body else field.default
            for field in self.writable
            if defaults or field.json in body
        }


def _loaded(field: Field, value: Any) -> Any:
    return field.kind.load(value) if field.kind.load else value


def _selected(field: Field, dialect: str) -> str:
    return field.kind.select[dialect].format(field.column) if field.kind.select else field.column


def _render_source(table: str, fields: tuple[Field, ...]) -> str:
    names = ", ".join(field.column for field in fields)
    rendered = ", ".join(f"{field.json!r}: {field.kind.render.format(field.column)}" for field in fields)
    return (
        f"def render_row(row):\n"
        f'    """A row of {table} -> JSON (generated by bucketlist.shapes)."""\n'
        f"    {names}, = row\n"
        f"    return {{{rendered}}}\n"
    )


BUCKET = Shape(
    "buckets",
    Field("id", "id"),
    Field("name", "name", writable=True),
    Field("createdAt", "created_at", TIMESTAMP),
    Field("modifiedAt", "modified_at", TIMESTAMP),
)
ITEM = Shape(
    "items",
    Field("id", "id"),
    Field("name", "name", writable=True),
    Field("description", "description", writable=True),
    Field("done", "done", BOOL, writable=True, default=False),
    Field("bucketId", "bucket_id", REFERENCE, attr="bucket"),
    Field("createdAt", "created_at", TIMESTAMP),
    Field("modifiedAt", "modified_at", TIMESTAMP),
)
