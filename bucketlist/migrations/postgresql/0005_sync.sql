-- depends: 0004_search_index
-- Incremental sync (see bucketlist/changes.py): a per-user change counter, and one row per
-- bucket or item saying at which count it last changed, kept after a deletion as its tombstone.

-- Bumped first thing by every write transaction of the user: the row lock makes the user's
-- writes take turns, so the order of the counts is the order of the commits.
ALTER TABLE users ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
-- The highest count of a tombstone purged so far: a sync token below it is answered 410.
ALTER TABLE users ADD COLUMN sync_floor BIGINT NOT NULL DEFAULT 0;

-- kind: 1 bucket, 2 item. bucket_id: the bucket an item is in (a bucket's own id for a bucket),
-- so that deleting a bucket drops its items' rows: the bucket's tombstone implies them.
CREATE TABLE changes (
    kind SMALLINT NOT NULL,
    resource_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bucket_id INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, resource_id)
);
-- A sync page is one range scan, in the order the page lists them.
CREATE INDEX changes_user_seq ON changes (user_id, seq, kind, resource_id);
CREATE INDEX changes_bucket ON changes (bucket_id, kind);
-- The purge of old tombstones finds them without reading the live rows.
CREATE INDEX changes_tombstones ON changes (user_id, changed_at) WHERE deleted;

-- Rows that existed before this migration: every one changed at count 1 of its user.
INSERT INTO changes (kind, resource_id, user_id, bucket_id, seq, deleted, changed_at)
SELECT 1, id, owner_id, id, 1, FALSE, modified_at FROM buckets;
INSERT INTO changes (kind, resource_id, user_id, bucket_id, seq, deleted, changed_at)
SELECT 2, items.id, buckets.owner_id, items.bucket_id, 1, FALSE, items.modified_at
FROM items JOIN buckets ON buckets.id = items.bucket_id;
UPDATE users SET change_seq = 1 WHERE EXISTS (SELECT 1 FROM buckets WHERE buckets.owner_id = users.id);
