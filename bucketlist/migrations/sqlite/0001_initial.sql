-- The schema of the first release, as Pony's create_tables made it.
-- IF NOT EXISTS: a database created by that release is adopted as it is, every row intact.

CREATE TABLE IF NOT EXISTS "users" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "email" VARCHAR(254) UNIQUE NOT NULL,
  "password_hash" VARCHAR(100) NOT NULL,
  "token_version" INTEGER NOT NULL,
  "created_at" DATETIME NOT NULL,
  "bucket_count" INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS "buckets" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "name" VARCHAR(200) NOT NULL,
  "owner_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "created_at" DATETIME NOT NULL,
  "modified_at" DATETIME NOT NULL,
  "item_count" INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS "idx_buckets__owner_id_created_at_id" ON "buckets" ("owner_id", "created_at", "id");

CREATE TABLE IF NOT EXISTS "items" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT,
  "name" VARCHAR(200) NOT NULL,
  "description" VARCHAR(2000),
  "done" BOOLEAN NOT NULL,
  "bucket_id" INTEGER NOT NULL REFERENCES "buckets" ("id"),
  "created_at" DATETIME NOT NULL,
  "modified_at" DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS "idx_items__bucket_id_created_at_id" ON "items" ("bucket_id", "created_at", "id");

CREATE TABLE IF NOT EXISTS "revoked_tokens" (
  "jti" VARCHAR(64) NOT NULL PRIMARY KEY,
  "expires_at" DATETIME NOT NULL
);

CREATE INDEX IF NOT EXISTS "idx_revoked_tokens__expires_at" ON "revoked_tokens" ("expires_at");
