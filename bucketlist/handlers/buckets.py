"""Buckets: operationIds `buckets.*` in the spec."""

from __future__ import annotations

from pony.orm import db_session

from .. import changes, conditional, listing, records
from ..idempotency import idempotent
from ..models import utcnow
from ..records import BUCKETS
from ..state import current
from .common import absolute_url, list_page


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
    fields = records.create(db, BUCKETS, user, body, utcnow())
    changes.record(db, user, seq, changes.BUCKET, fields["id"], fields["id"])
    location = absolute_url(current().routes.path("buckets.get_bucket", bucket_id=fields["id"]))
    return conditional.tagged({"status": "success", **fields}, fields, 201, {"Location": location})


@db_session
def get_bucket(user: int, bucket_id: int):
    fields = records.read(current().db, BUCKETS, user, bucket_id)
    return conditional.read({"status": "success", "bucket": fields}, fields)


@db_session
def update_bucket(user: int, bucket_id: int, body: dict):
    db = current().db
    seq = changes.begin_write(db, user)
    conditional.require_current(lambda: records.read(db, BUCKETS, user, bucket_id), "bucket")
    fields = records.update(db, BUCKETS, user, bucket_id, body, utcnow())
    changes.record(db, user, seq, changes.BUCKET, bucket_id, bucket_id)
    return conditional.tagged({"status": "success", **fields}, fields)


patch_bucket = update_bucket


@db_session
def delete_bucket(user: int, bucket_id: int) -> dict:
    db = current().db
    seq = changes.begin_write(db, user)
    conditional.require_current(lambda: records.read(db, BUCKETS, user, bucket_id), "bucket")
    changes.record(db, user, seq, changes.BUCKET, bucket_id, bucket_id, deleted=True)
    # One statement for all the items (they go first: they refer to the bucket).
    records.delete_items_of(db, user, bucket_id)
    records.delete(db, BUCKETS, user, bucket_id)
    return {"status": "success", "message": "Bucket Deleted successfully"}
