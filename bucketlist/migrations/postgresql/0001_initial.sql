-- The schema of the first release, as Pony's create_tables made it.
-- IF NOT EXISTS: a database created by that release is adopted as it is, every row intact.

CREATE TABLE IF NOT EXISTS "users" (
  "id" SERIAL PRIMARY KEY,
  "email" VARCHAR(254) UNIQUE NOT NULL,
  "password_hash" VARCHAR(100) NOT NULL,
  "token_version" INTEGER NOT NULL,
  "created_at" TIMESTAMP NOT NULL,
  "bucket_count" INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS "buckets" (
  "id" SERIAL PRIMARY KEY,
  "name" VARCHAR(200) NOT NULL,
  "owner_id" INTEGER NOT NULL,
  "created_at" TIMESTAMP NOT NULL,
  "modified_at" TIMESTAMP NOT NULL,
  "item_count" INTEGER NOT NULL,
  CONSTRAINT "fk_buckets__owner_id" FOREIGN KEY ("owner_id") REFERENCES "users" ("id") ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS "idx_buckets__owner_id_created_at_id" ON "buckets" ("owner_id", "created_at", "id");

CREATE TABLE IF NOT EXISTS "items" (
  "id" SERIAL PRIMARY KEY,
  "name" VARCHAR(200) NOT NULL,
  "description" VARCHAR(2000),
  "done" BOOLEAN NOT NULL,
  "bucket_id" INTEGER NOT NULL,
  "created_at" TIMESTAMP NOT NULL,
  "modified_at" TIMESTAMP NOT NULL,
  CONSTRAINT "fk_items__bucket_id" FOREIGN KEY ("bucket_id") REFERENCES "buckets" ("id")
);

CREATE INDEX IF NOT EXISTS "idx_items__bucket_id_created_at_id" ON "items" ("bucket_id", "created_at", "id");

CREATE TABLE IF NOT EXISTS "revoked_tokens" (
  "jti" VARCHAR(64) PRIMARY KEY,
  "expires_at" TIMESTAMP NOT NULL
);

CREATE INDEX IF NOT EXISTS "idx_revoked_tokens__expires_at" ON "revoked_tokens" ("expires_at");
