"""Buckets: operationIds `buckets.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from ..models import utcnow
from ..state import current
from .common import absolute_url, bucket_fields, owned_bucket, page_of


@db_session
def list_buckets(user: int, page: int = 1, limit: int | None = None, q: str | None = None) -> dict:
    Bucket = current().db.Bucket
    return page_of(Bucket.select(lambda b: b.owner.id == user), page, limit, q, "buckets")


@db_session
def create_bucket(user: int, body: dict):
    now = utcnow()
    bucket = current().db.Bucket(name=body["name"], owner=user, created_at=now, modified_at=now)
    bucket.flush()
    location = absolute_url(f"/v1/bucketlists/{bucket.id}")
    return {"status": "success", **bucket_fields(bucket)}, 201, {"Location": location}


@db_session
def get_bucket(user: int, bucket_id: int) -> dict:
    return {"status": "success", "bucket": bucket_fields(owned_bucket(user, bucket_id))}


@db_session
def update_bucket(user: int, bucket_id: int, body: dict) -> dict:
    bucket = owned_bucket(user, bucket_id)
    bucket.set(**{"name": body["name"], "modified_at": utcnow()})
    return {"status": "success", **bucket_fields(bucket)}


patch_bucket = update_bucket


@db_session
def delete_bucket(user: int, bucket_id: int) -> dict:
    bucket = owned_bucket(user, bucket_id)
    # One statement for all the items, not one DELETE per item as Pony's cascade would.
    current().db.Item.select(lambda i: i.bucket == bucket).delete(bulk=True)
    bucket.delete()
    return {"status": "success", "message": "Bucket Deleted successfully"}
