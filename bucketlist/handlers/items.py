"""Items of a bucket: operationIds `items.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from .. import changes, conditional, listing, records
from ..idempotency import idempotent
from ..models import utcnow
from ..records import ITEMS
from ..state import current
from .common import absolute_url, list_page


@db_session
def list_items(
    user: int,
    bucket_id: int,
    page: int = 1,
    limit: int | None = None,
    q: str | None = None,
    done: str | None = None,
    cursor: str | None = None,
) -> dict:
    # `done` is the spec's enum of "true" and "false": `1` or `True` are refused there.
    wanted = None if done is None else done == "true"
    return list_page("items", listing.ITEMS, user, bucket_id, page, limit, q, wanted, cursor)


@idempotent
@db_session
def create_item(user: int, bucket_id: int, body: dict):
    db = current().db
    seq = changes.begin_write(db, user)
    fields = records.create(db, ITEMS, user, body, utcnow(), bucket=bucket_id)
    changes.record(db, user, seq, changes.ITEM, fields["id"], bucket_id)
    location = absolute_url(
        current().routes.path("items.get_item", bucket_id=bucket_id, item_id=fields["id"])
    )
    return conditional.tagged({"status": "success", "item": fields}, fields, 201, {"Location": location})


@db_session
def get_item(user: int, bucket_id: int, item_id: int):
    fields = records.read(current().db, ITEMS, user, item_id, bucket=bucket_id)
    return conditional.read({"status": "success", "item": fields}, fields)


@db_session
def update_item(user: int, bucket_id: int, item_id: int, body: dict):
    db = current().db
    seq = changes.begin_write(db, user)
    conditional.require_current(lambda: records.read(db, ITEMS, user, item_id, bucket=bucket_id), "item")
    fields = records.update(db, ITEMS, user, item_id, body, utcnow(), bucket=bucket_id)
    changes.record(db, user, seq, changes.ITEM, item_id, bucket_id)
    return conditional.tagged({"status": "success", "item": fields}, fields)


patch_item = update_item


@db_session
def delete_item(user: int, bucket_id: int, item_id: int) -> dict:
    db = current().db
    seq = changes.begin_write(db, user)
    conditional.require_current(lambda: records.read(db, ITEMS, user, item_id, bucket=bucket_id), "item")
    records.delete(db, ITEMS, user, item_id, bucket=bucket_id)
    changes.record(db, user, seq, changes.ITEM, item_id, bucket_id, deleted=True)
    return {
        "status": "success",
        "message": f"Successfully deleted the item from bucket with Id {bucket_id}",
    }
