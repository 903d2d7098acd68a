"""Buckets: operationIds `buckets.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from .. import changes, conditional, listing
from ..idempotency import idempotent
from ..models import utcnow
from ..shapes import BUCKET
from ..state import current
from .common import absolute_url, bucket_fields, list_page, owned_bucket


@db_session
def list_buckets(
    user: int, page: int = 1, limit: int | None = None, q: str | None = None, cursor: str | None = None
) -> dict:
    return list_page("buckets", listing.BUCKETS, user, user, page, limit, q, None, cursor)


@idempotent
@db_session
def create_bucket(user: int, body: dict):
    db = current().db
    seq = changes.begin_write(db, user)
    now = utcnow()
    bucket = db.Bucket(**BUCKET.values(body), owner=user, created_at=now, modified_at=now)
    bucket.flush()
    changes.record(db, user, seq, changes.BUCKET, bucket.id, bucket.id)
    location = absolute_url(current().routes.path("buckets.get_bucket", bucket_id=bucket.id))
    fields = bucket_fields(bucket)
    return conditional.tagged({"status": "success", **fields}, fields, 201, {"Location": location})


@db_session
def get_bucket(user: int, bucket_id: int):
    fields = bucket_fields(owned_bucket(user, bucket_id))
    return conditional.read({"status": "success", "bucket": fields}, fields)


@db_session
def update_bucket(user: int, bucket_id: int, body: dict):
    db = current().db
    seq = changes.begin_write(db, user)
    bucket = owned_bucket(user, bucket_id, for_write=True)
    conditional.require_current(bucket, bucket_fields, "bucket")
    bucket.set(**BUCKET.values(body), modified_at=utcnow())
    changes.record(db, user, seq, changes.BUCKET, bucket_id, bucket_id)
    fields = bucket_fields(bucket)
    return conditional.tagged({"status": "success", **fields}, fields)


patch_bucket = update_bucket


@db_session
def delete_bucket(user: int, bucket_id: int) -> dict:
    db = current().db
    seq = changes.begin_write(db, user)
    bucket = owned_bucket(user, bucket_id, for_write=True)
    conditional.require_current(bucket, bucket_fields, "bucket")
    changes.record(db, user, seq, changes.BUCKET, bucket_id, bucket_id, deleted=True)
    # One statement for all the items, not one DELETE per item as Pony's cascade would.
    db.Item.select(lambda i: i.bucket == bucket).delete(bulk=True)
    bucket.delete()
    return {"status": "success", "message": "Bucket Deleted successfully"}
