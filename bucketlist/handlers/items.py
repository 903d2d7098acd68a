"""Items of a bucket: operationIds `items.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from .. import listing
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


@db_session
def create_item(user: int, bucket_id: int, body: dict):
    db = current().db
    bucket = owned_bucket(user, bucket_id, for_write=True)
    now = utcnow()
    item = db.Item(**ITEM.values(body), bucket=bucket, created_at=now, modified_at=now)
    item.flush()
    listing.adjust_counter(db, "buckets", "item_count", bucket.id, +1)
    location = absolute_url(f"/v1/bucketlists/{bucket.id}/items/{item.id}")
    return {"status": "success", "item": item_fields(item)}, 201, {"Location": location}


@db_session
def get_item(user: int, bucket_id: int, item_id: int) -> dict:
    return {"status": "success", "item": item_fields(owned_item(user, bucket_id, item_id))}


@db_session
def update_item(user: int, bucket_id: int, item_id: int, body: dict) -> dict:
    item = owned_item(user, bucket_id, item_id, for_write=True)
    item.set(**ITEM.values(body), modified_at=utcnow())
    return {"status": "success", "item": item_fields(item)}


patch_item = update_item


@db_session
def delete_item(user: int, bucket_id: int, item_id: int) -> dict:
    owned_item(user, bucket_id, item_id, for_write=True).delete()
    listing.adjust_counter(current().db, "buckets", "item_count", bucket_id, -1)
    return {
        "status": "success",
        "message": f"Successfully deleted the item from bucket with Id {bucket_id}",
    }
