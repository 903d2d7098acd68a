"""Items of a bucket: operationIds `items.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from .. import changes, conditional, listing
from ..idempotency import idempotent
from ..models import utcnow
from ..shapes import ITEM
from ..state import current
from .common import absolute_url, item_fields, list_page, owned_bucket, owned_item


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
    bucket = owned_bucket(user, bucket_id, for_write=True)
    now = utcnow()
    item = db.Item(**ITEM.values(body), bucket=bucket, created_at=now, modified_at=now)
    item.flush()
    changes.record(db, user, seq, changes.ITEM, item.id, bucket.id)
    location = absolute_url(current().routes.path("items.get_item", bucket_id=bucket.id, item_id=item.id))
    fields = item_fields(item)
    return conditional.tagged({"status": "success", "item": fields}, fields, 201, {"Location": location})


@db_session
def get_item(user: int, bucket_id: int, item_id: int):
    fields = item_fields(owned_item(user, bucket_id, item_id))
    return conditional.read({"status": "success", "item": fields}, fields)


@db_session
def update_item(user: int, bucket_id: int, item_id: int, body: dict):
    db = current().db
    seq = changes.begin_write(db, user)
    item = owned_item(user, bucket_id, item_id, for_write=True)
    conditional.require_current(item, item_fields, "item")
    item.set(**ITEM.values(body), modified_at=utcnow())
    changes.record(db, user, seq, changes.ITEM, item_id, bucket_id)
    fields = item_fields(item)
    return conditional.tagged({"status": "success", "item": fields}, fields)


patch_item = update_item


@db_session
def delete_item(user: int, bucket_id: int, item_id: int) -> dict:
    db = current().db
    seq = changes.begin_write(db, user)
    item = owned_item(user, bucket_id, item_id, for_write=True)
    conditional.require_current(item, item_fields, "item")
    item.delete()
    changes.record(db, user, seq, changes.ITEM, item_id, bucket_id, deleted=True)
    return {
        "status": "success",
        "message": f"Successfully deleted the item from bucket with Id {bucket_id}",
    }
