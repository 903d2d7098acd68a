"""Items of a bucket: operationIds `items.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from .. import conditional, listing
from ..idempotency import idempotent
from ..models import utcnow
from ..state import current
from .common import absolute_url, item_fields, owned_bucket, owned_item, page_envelope


@db_session
def list_items(
    user: int, bucket_id: int, page: int = 1, limit: int | None = None, q: str | None = None
) -> dict:
    state = current()
    limit = limit or state.settings.page_size
    count, rows = listing.fetch_page(state.db, listing.ITEMS, user, bucket_id, page, limit, q)
    return page_envelope("items", count, rows, page, limit, q)


@idempotent
@db_session
def create_item(user: int, bucket_id: int, body: dict):
    db = current().db
    bucket = owned_bucket(user, bucket_id, for_write=True)
    now = utcnow()
    item = db.Item(
        name=body["name"],
        description=body.get("description"),
        done=body.get("done", False),
        bucket=bucket,
        created_at=now,
        modified_at=now,
    )
    item.flush()
    listing.adjust_counter(db, "buckets", "item_count", bucket.id, +1)
    location = absolute_url(f"/v1/bucketlists/{bucket.id}/items/{item.id}")
    fields = item_fields(item)
    return conditional.tagged({"status": "success", "item": fields}, fields, 201, {"Location": location})


@db_session
def get_item(user: int, bucket_id: int, item_id: int):
    fields = item_fields(owned_item(user, bucket_id, item_id))
    return conditional.read({"status": "success", "item": fields}, fields)


@db_session
def update_item(user: int, bucket_id: int, item_id: int, body: dict):
    item = owned_item(user, bucket_id, item_id, for_write=True)
    conditional.require_current(item_fields(item), "item")
    # The spec allows only name, description and done, and at least one of them.
    item.set(**body, modified_at=utcnow())
    fields = item_fields(item)
    return conditional.tagged({"status": "success", "item": fields}, fields)


patch_item = update_item


@db_session
def delete_item(user: int, bucket_id: int, item_id: int) -> dict:
    item = owned_item(user, bucket_id, item_id, for_write=True)
    conditional.require_current(item_fields(item), "item")
    item.delete()
    listing.adjust_counter(current().db, "buckets", "item_count", bucket_id, -1)
    return {
        "status": "success",
        "message": f"Successfully deleted the item from bucket with Id {bucket_id}",
    }
