"""Buckets: operationIds `buckets.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from .. import listing
from ..models import utcnow
from ..shapes import BUCKET
from ..state import current
from .common import absolute_url, bucket_fields, list_page, owned_bucket


@db_session
def list_buckets(
    user: int, page: int = 1, limit: int | None = None, q: str | None = None, cursor: str | None = None
) -> dict:
    return list_page("buckets", listing.BUCKETS, user, user, page, limit, q, None, cursor)


@db_session
def create_bucket(user: int, body: dict):
    db = current().db
    now = utcnow()
    bucket = db.Bucket(**BUCKET.values(body), owner=user, created_at=now, modified_at=now)
    bucket.flush()
    listing.adjust_counter(db, "users", "bucket_count", user, +1)
    location = absolute_url(f"/v1/bucketlists/{bucket.id}")
    return {"status": "success", **bucket_fields(bucket)}, 201, {"Location": location}


@db_session
def get_bucket(user: int, bucket_id: int) -> dict:
    return {"status": "success", "bucket": bucket_fields(owned_bucket(user, bucket_id))}


@db_session
def update_bucket(user: int, bucket_id: int, body: dict) -> dict:
    bucket = owned_bucket(user, bucket_id, for_write=True)
    bucket.set(**BUCKET.values(body), modified_at=utcnow())
    return {"status": "success", **bucket_fields(bucket)}


patch_bucket = update_bucket


@db_session
def delete_bucket(user: int, bucket_id: int) -> dict:
    db = current().db
    bucket = owned_bucket(user, bucket_id, for_write=True)
    # One statement for all the items, not one DELETE per item as Pony's cascade would.
    db.Item.select(lambda i: i.bucket == bucket).delete(bulk=True)
    bucket.delete()
    listing.adjust_counter(db, "users", "bucket_count", user, -1)
    return {"status": "success", "message": "Bucket Deleted successfully"}
