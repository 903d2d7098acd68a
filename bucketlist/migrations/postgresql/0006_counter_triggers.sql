-- depends: 0005_sync
-- The list counters (users.bucket_count, buckets.item_count) kept by the database itself, so
-- that every write path keeps them: the handlers, the seeder's COPY, raw SQL, cascades.
-- Statement-level triggers with transition tables: one grouped UPDATE per statement, so a
-- COPY of a million items costs one UPDATE per bucket touched, not a million.
-- `x = x + n` is read and written under the row's lock, so concurrent writers all count.

CREATE FUNCTION count_items_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE buckets SET item_count = item_count + added.n
    FROM (SELECT bucket_id, COUNT(*) AS n FROM added_items GROUP BY bucket_id) AS added
    WHERE buckets.id = added.bucket_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION count_items_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Deleting a bucket deletes its items first: this then updates a row about to go, harmlessly.
    UPDATE buckets SET item_count = item_count - removed.n
    FROM (SELECT bucket_id, COUNT(*) AS n FROM removed_items GROUP BY bucket_id) AS removed
    WHERE buckets.id = removed.bucket_id;
    RETURN NULL;
END
$$;

-- An item moved to another bucket (no handler does it today; raw SQL could). Row-level:
-- PostgreSQL allows no transition tables with a column list, and the WHEN clause keeps the
-- function call off every other update.
CREATE FUNCTION count_item_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE buckets SET item_count = item_count - 1 WHERE id = OLD.bucket_id;
    UPDATE buckets SET item_count = item_count + 1 WHERE id = NEW.bucket_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION count_buckets_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET bucket_count = bucket_count + added.n
    FROM (SELECT owner_id, COUNT(*) AS n FROM added_buckets GROUP BY owner_id) AS added
    WHERE users.id = added.owner_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION count_buckets_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Closing an account deletes its buckets, then the user: the user row goes right after.
    UPDATE users SET bucket_count = bucket_count - removed.n
    FROM (SELECT owner_id, COUNT(*) AS n FROM removed_buckets GROUP BY owner_id) AS removed
    WHERE users.id = removed.owner_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION count_bucket_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET bucket_count = bucket_count - 1 WHERE id = OLD.owner_id;
    UPDATE users SET bucket_count = bucket_count + 1 WHERE id = NEW.owner_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER items_counted_in AFTER INSERT ON items
    REFERENCING NEW TABLE AS added_items FOR EACH STATEMENT EXECUTE FUNCTION count_items_added();
CREATE TRIGGER items_counted_out AFTER DELETE ON items
    REFERENCING OLD TABLE AS removed_items FOR EACH STATEMENT EXECUTE FUNCTION count_items_removed();
CREATE TRIGGER items_counted_moved AFTER UPDATE OF bucket_id ON items
    FOR EACH ROW WHEN (OLD.bucket_id IS DISTINCT FROM NEW.bucket_id) EXECUTE FUNCTION count_item_moved();
CREATE TRIGGER buckets_counted_in AFTER INSERT ON buckets
    REFERENCING NEW TABLE AS added_buckets FOR EACH STATEMENT EXECUTE FUNCTION count_buckets_added();
CREATE TRIGGER buckets_counted_out AFTER DELETE ON buckets
    REFERENCING OLD TABLE AS removed_buckets FOR EACH STATEMENT EXECUTE FUNCTION count_buckets_removed();
CREATE TRIGGER buckets_counted_moved AFTER UPDATE OF owner_id ON buckets
    FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id) EXECUTE FUNCTION count_bucket_moved();

-- Recounted once from the rows, so a database migrated from any earlier state starts right
-- (earlier releases' bulk loads or a crash between an insert and its counter could have left
-- them off); only rows that are wrong are written.
UPDATE buckets SET item_count = (SELECT COUNT(*) FROM items WHERE items.bucket_id = buckets.id)
WHERE item_count <> (SELECT COUNT(*) FROM items WHERE items.bucket_id = buckets.id);
UPDATE users SET bucket_count = (SELECT COUNT(*) FROM buckets WHERE buckets.owner_id = users.id)
WHERE bucket_count <> (SELECT COUNT(*) FROM buckets WHERE buckets.owner_id = users.id);
