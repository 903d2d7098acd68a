"""bucketlist.shapes: each resource is declared once, and the spec and the model agree with it.

A field added to the model but not declared (or declared but missing from the spec) fails
here by name, instead of being served under another field's name or not at all.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from bucketlist.adaptations import entity_columns
from bucketlist.app import load_spec
from bucketlist.shapes import BOOL, BUCKET, ITEM, PLAIN, REFERENCE, TIMESTAMP, Field, Kind, Shape

# (declaration, entity, the spec's resource schema, its create and update bodies)
RESOURCES = [
    pytest.param(BUCKET, "Bucket", "Bucket", "BucketCreate", "BucketUpdate", id="bucket"),
    pytest.param(ITEM, "Item", "Item", "ItemCreate", "ItemUpdate", id="item"),
]
KIND_TYPES = {TIMESTAMP: datetime, BOOL: bool}


@pytest.fixture(scope="module")
def schemas() -> dict:
    return load_spec()["components"]["schemas"]


@pytest.mark.parametrize(("shape", "entity", "resource", "create", "update"), RESOURCES)
def test_the_spec_shows_the_declared_fields_in_the_declared_order(
    schemas, shape, entity, resource, create, update
):
    declared = [field.json for field in shape.fields]
    assert list(schemas[resource]["properties"]) == declared
    assert schemas[resource]["required"] == declared


@pytest.mark.parametrize(("shape", "entity", "resource", "create", "update"), RESOURCES)
def test_the_spec_accepts_the_writable_fields_and_no_others(schemas, shape, entity, resource, create, update):
    writable = {field.json for field in shape.writable}
    assert set(schemas[create]["properties"]) == writable
    assert set(schemas[update]["properties"]) == writable


def test_a_created_bucket_is_answered_flat_with_the_declared_fields(schemas):
    assert list(schemas["BucketResult"]["properties"]) == ["status", *(field.json for field in BUCKET.fields)]


@pytest.mark.parametrize(("shape", "entity", "resource", "create", "update"), RESOURCES)
def test_every_declared_field_is_a_column_of_the_model(db, shape, entity, resource, create, update):
    model = getattr(db, entity)
    columns = entity_columns(model)
    assert model._table_ == shape.table
    for field in shape.fields:
        where = f"{shape.table}.{field.column} (declared as {field.json!r} in bucketlist.shapes)"
        assert field.column in columns, f"{where} is not a column of the model"
        attr = columns[field.column]
        assert attr.name == field.attribute, f"{where} is the model's {attr.name!r}, not {field.attribute!r}"
        assert attr.is_relation == (field.kind is REFERENCE), f"{where}: a reference needs kind REFERENCE"
        if field.kind in KIND_TYPES:
            assert attr.py_type is KIND_TYPES[field.kind], f"{where} is {attr.py_type}, not {field.kind.name}"


@pytest.mark.parametrize(("shape", "entity", "resource", "create", "update"), RESOURCES)
def test_a_create_body_must_hold_what_the_model_cannot_default(
    db, schemas, shape, entity, resource, create, update
):
    columns = entity_columns(getattr(db, entity))
    needed = {
        field.json
        for field in shape.writable
        if columns[field.column].is_required and columns[field.column].default is None
    }
    assert set(schemas[create]["required"]) == needed


@pytest.mark.parametrize(("shape", "entity", "resource", "create", "update"), RESOURCES)
def test_a_field_a_create_may_leave_out_defaults_as_in_the_model(db, shape, entity, resource, create, update):
    columns = entity_columns(getattr(db, entity))
    for field in shape.writable:
        assert field.default == columns[field.column].default, f"{shape.table}.{field.column}"


# The generated functions, on a resource made up for the purpose.
UPPER = Kind("upper", render="{0}.upper()", load=str.lower)
THING = Shape(
    "things",
    Field("id", "id"),
    Field("label", "label", UPPER, writable=True),
    Field("ready", "ready", BOOL, writable=True),
    Field("ownerId", "owner_id", REFERENCE, attr="owner"),
    Field("seenAt", "seen_at", TIMESTAMP),
)


def test_a_row_renders_by_the_declaration():
    row = (7, "kite", 1, 3, "2026-11-27 00:55:56.4959")
    assert THING.render(row) == {
        "id": 7,
        "label": "KITE",
        "ready": True,
        "ownerId": 3,
        "seenAt": "2026-11-27T00:55:56.495900+00:00",
    }


def test_a_create_sets_every_writable_column_and_an_update_only_those_the_body_holds():
    assert THING.values({"label": "KITE"}) == {"label": "kite", "ready": None}
    assert THING.values({"ready": False, "label": "A"}) == {"label": "a", "ready": False}
    assert THING.values({"label": "KITE"}, defaults=False) == {"label": "kite"}
    assert THING.values({}, defaults=False) == {}


@pytest.mark.parametrize("dialect", ["PostgreSQL", "SQLite"])
def test_the_select_list_reads_timestamps_as_text_under_their_own_names(dialect):
    selected = THING.select_list(dialect).split(", ")
    assert selected[:4] == ["id", "label", "ready", "owner_id"]
    assert selected[4].endswith(" AS seen_at_text")


@pytest.mark.parametrize("column", ["class", "seen-at", "1st"])
def test_a_column_that_is_no_identifier_is_refused(column):
    with pytest.raises(ValueError, match="not a plain identifier"):
        Shape("things", Field("id", "id"), Field("odd", column, PLAIN))
