"""Items of a bucket: operationIds `items.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from ..models import utcnow
from ..state import current
from .common import absolute_url, item_fields, owned_bucket, owned_item, page_of


@db_session
def list_items(
    user: int, bucket_id: int, page: int = 1, limit: int | None = None, q: str | None = None
) -> dict:
    bucket = owned_bucket(user, bucket_id)
    Item = current().db.Item
    return page_of(Item.select(lambda i: i.bucket == bucket), page, limit, q, "items")


@db_session
def create_item(user: int, bucket_id: int, body: dict):
    bucket = owned_bucket(user, bucket_id)
    now = utcnow()
    item = current().db.Item(
        name=body["name"],
        description=body.get("description"),
        done=body.get("done", False),
        bucket=bucket,
        created_at=now,
        modified_at=now,
    )
    item.flush()
    location = absolute_url(f"/v1/bucketlists/{bucket.id}/items/{item.id}")
    return {"status": "success", "item": item_fields(item)}, 201, {"Location": location}


@db_session
def get_item(user: int, bucket_id: int, item_id: int) -> dict:
    return {"status": "success", "item": item_fields(owned_item(user, bucket_id, item_id))}


@db_session
def update_item(user: int, bucket_id: int, item_id: int, body: dict) -> dict:
    item = owned_item(user, bucket_id, item_id)
    # The spec allows only name, description and done, and at least one of them.
    item.set(**body, modified_at=utcnow())
    return {"status": "success", "item": item_fields(item)}


patch_item = update_item


@db_session
def delete_item(user: int, bucket_id: int, item_id: int) -> dict:
    owned_item(user, bucket_id, item_id).delete()
    return {
        "status": "success",
        "message": f"Successfully deleted the item from bucket with Id {bucket_id}",
    }
