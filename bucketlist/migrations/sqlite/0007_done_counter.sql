-- depends: 0006_counter_triggers
-- A bucket's done items counted beside all of them (buckets.done_count), by triggers like
-- those of item_count, so that `done=true|false` costs what the unfiltered list does: the
-- count of done items is done_count, of the others item_count - done_count.

ALTER TABLE buckets ADD COLUMN done_count INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER items_counted_done_in AFTER INSERT ON items
WHEN NEW.done
BEGIN
    UPDATE buckets SET done_count = done_count + 1 WHERE id = NEW.bucket_id;
END;

CREATE TRIGGER items_counted_done_out AFTER DELETE ON items
WHEN OLD.done
BEGIN
    UPDATE buckets SET done_count = done_count - 1 WHERE id = OLD.bucket_id;
END;

-- Marked done or not done, or moved to another bucket while done (raw SQL could), or both.
CREATE TRIGGER items_counted_done AFTER UPDATE OF done, bucket_id ON items
WHEN (OLD.done AND OLD.bucket_id IS NOT NEW.bucket_id) OR OLD.done IS NOT NEW.done
BEGIN
    UPDATE buckets SET done_count = done_count - OLD.done WHERE id = OLD.bucket_id;
    UPDATE buckets SET done_count = done_count + NEW.done WHERE id = NEW.bucket_id;
END;

-- Counted once from the rows; only buckets holding done items are written.
UPDATE buckets SET done_count = (SELECT COUNT(*) FROM items WHERE items.bucket_id = buckets.id AND done)
WHERE done_count <> (SELECT COUNT(*) FROM items WHERE items.bucket_id = buckets.id AND done);
