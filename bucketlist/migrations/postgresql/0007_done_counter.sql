-- depends: 0006_counter_triggers
-- A bucket's done items counted beside all of them (buckets.done_count), by the same triggers,
-- so that `done=true|false` costs what the unfiltered list does: the count of done items is
-- done_count, of the others item_count - done_count. A constant default adds the column
-- without rewriting the table.

ALTER TABLE buckets ADD COLUMN done_count INTEGER NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION count_items_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE buckets SET item_count = item_count + added.n, done_count = done_count + added.d
    FROM (
        SELECT bucket_id, COUNT(*) AS n, COUNT(*) FILTER (WHERE done) AS d
        FROM added_items GROUP BY bucket_id
    ) AS added
    WHERE buckets.id = added.bucket_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION count_items_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Deleting a bucket deletes its items first: this then updates a row about to go, harmlessly.
    UPDATE buckets SET item_count = item_count - removed.n, done_count = done_count - removed.d
    FROM (
        SELECT bucket_id, COUNT(*) AS n, COUNT(*) FILTER (WHERE done) AS d
        FROM removed_items GROUP BY bucket_id
    ) AS removed
    WHERE buckets.id = removed.bucket_id;
    RETURN NULL;
END
$$;

-- An item marked done or not done, or moved to another bucket (raw SQL could), or both.
-- Row-level, like items_counted_moved, which keeps item_count for moves: its WHEN clause
-- keeps the call off every update that changes neither column.
CREATE FUNCTION count_item_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.bucket_id = NEW.bucket_id THEN
        UPDATE buckets SET done_count = done_count + NEW.done::int - OLD.done::int WHERE id = NEW.bucket_id;
    ELSE
        UPDATE buckets SET done_count = done_count - OLD.done::int WHERE id = OLD.bucket_id;
        UPDATE buckets SET done_count = done_count + NEW.done::int WHERE id = NEW.bucket_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER items_counted_done AFTER UPDATE OF done, bucket_id ON items
    FOR EACH ROW WHEN ((OLD.done AND OLD.bucket_id IS DISTINCT FROM NEW.bucket_id)
                       OR OLD.done IS DISTINCT FROM NEW.done)
    EXECUTE FUNCTION count_item_done();

-- Counted once from the rows; only buckets holding done items are written.
UPDATE buckets SET done_count = (SELECT COUNT(*) FROM items WHERE items.bucket_id = buckets.id AND done)
WHERE done_count <> (SELECT COUNT(*) FROM items WHERE items.bucket_id = buckets.id AND done);
