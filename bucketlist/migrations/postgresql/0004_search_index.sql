-- depends: 0003_idempotency_keys
-- Name searches (`q`, matched as lower(name) LIKE '%text%') read trigram indexes instead of
-- every row of the parent: pg_trgm is a trusted extension (PostgreSQL 13+), so the
-- database's owner may create it. The done filter of items lists is a range of its own.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX IF NOT EXISTS "idx_buckets__lower_name_trgm" ON "buckets" USING gin (lower("name") gin_trgm_ops);

CREATE INDEX IF NOT EXISTS "idx_items__lower_name_trgm" ON "items" USING gin (lower("name") gin_trgm_ops);

CREATE INDEX IF NOT EXISTS "idx_items__bucket_id_done_created_at_id" ON "items" ("bucket_id", "done", "created_at", "id");
