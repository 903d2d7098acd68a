-- depends: 0003_idempotency_keys
-- SQLite has no trigram index (its searches match py_lower(name), Python's lower()); the
-- done filter of items lists is a range of its own, as on PostgreSQL.

CREATE INDEX IF NOT EXISTS "idx_items__bucket_id_done_created_at_id" ON "items" ("bucket_id", "done", "created_at", "id");
