-- depends: 0005_sync
-- The list counters (users.bucket_count, buckets.item_count) kept by the database itself, so
-- that every write path keeps them: the handlers, the seeder's bulk inserts, raw SQL, cascades.
-- SQLite has row-level triggers only: one counter UPDATE per row, by primary key.

CREATE TRIGGER items_counted_in AFTER INSERT ON items
BEGIN
    UPDATE buckets SET item_count = item_count + 1 WHERE id = NEW.bucket_id;
END;

CREATE TRIGGER items_counted_out AFTER DELETE ON items
BEGIN
    UPDATE buckets SET item_count = item_count - 1 WHERE id = OLD.bucket_id;
END;

CREATE TRIGGER items_counted_moved AFTER UPDATE OF bucket_id ON items
WHEN OLD.bucket_id IS NOT NEW.bucket_id
BEGIN
    UPDATE buckets SET item_count = item_count - 1 WHERE id = OLD.bucket_id;
    UPDATE buckets SET item_count = item_count + 1 WHERE id = NEW.bucket_id;
END;

CREATE TRIGGER buckets_counted_in AFTER INSERT ON buckets
BEGIN
    UPDATE users SET bucket_count = bucket_count + 1 WHERE id = NEW.owner_id;
END;

CREATE TRIGGER buckets_counted_out AFTER DELETE ON buckets
BEGIN
    UPDATE users SET bucket_count = bucket_count - 1 WHERE id = OLD.owner_id;
END;

CREATE TRIGGER buckets_counted_moved AFTER UPDATE OF owner_id ON buckets
WHEN OLD.owner_id IS NOT NEW.owner_id
BEGIN
    UPDATE users SET bucket_count = bucket_count - 1 WHERE id = OLD.owner_id;
    UPDATE users SET bucket_count = bucket_count + 1 WHERE id = NEW.owner_id;
END;

-- Recounted once from the rows, so a database migrated from any earlier state starts right;
-- only rows that are wrong are written.
UPDATE buckets SET item_count = (SELECT COUNT(*) FROM items WHERE items.bucket_id = buckets.id)
WHERE item_count <> (SELECT COUNT(*) FROM items WHERE items.bucket_id = buckets.id);
UPDATE users SET bucket_count = (SELECT COUNT(*) FROM buckets WHERE buckets.owner_id = users.id)
WHERE bucket_count <> (SELECT COUNT(*) FROM buckets WHERE buckets.owner_id = users.id);
