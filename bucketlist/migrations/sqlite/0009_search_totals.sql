-- depends: 0008_search_counts
-- Each user's last large searched count (bucketlist/listing.py), held until a write to that
-- list: 0008's `search_counts` held for one change count of the user only, so any write of
-- theirs, anywhere, meant counting again. On PostgreSQL the database keeps the count exact on
-- every write; here the search matches by py_lower(), a function the service registers on its
-- own connections, which a trigger cannot count on (the sqlite3 shell, or any other writer,
-- lacks it). So a write to a list forgets its remembered search instead, whoever writes: the
-- handlers, the seeder, raw SQL. One index probe per row written.
--
-- `search_counts` stays for service code from before this migration (a rolling upgrade runs
-- both); nothing here reads it, and a later release drops it.
CREATE TABLE search_totals (
    owner_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    list TEXT NOT NULL,  -- "buckets" or "items"
    parent_id INTEGER NOT NULL,  -- the user (buckets) or the bucket (items) the list is under
    pattern TEXT NOT NULL,  -- the LIKE pattern counted
    done SMALLINT NOT NULL,  -- the done filter: 1 done, 0 not done, -1 none
    total INTEGER NOT NULL,
    -- When it was counted: it is trusted for listing.REMEMBER_FOR after that, then counted
    -- again, so that a count gone wrong (a write around the API racing the count) does not last.
    counted_at TIMESTAMP NOT NULL
);
CREATE INDEX search_totals_parent ON search_totals (parent_id, list);

CREATE TRIGGER items_searched_in AFTER INSERT ON items
BEGIN
    DELETE FROM search_totals WHERE parent_id = NEW.bucket_id AND list = 'items';
END;

CREATE TRIGGER items_searched_out AFTER DELETE ON items
BEGIN
    DELETE FROM search_totals WHERE parent_id = OLD.bucket_id AND list = 'items';
END;

CREATE TRIGGER items_searched_changed AFTER UPDATE OF name, done, bucket_id ON items
BEGIN
    DELETE FROM search_totals WHERE parent_id IN (OLD.bucket_id, NEW.bucket_id) AND list = 'items';
END;

CREATE TRIGGER buckets_searched_in AFTER INSERT ON buckets
BEGIN
    DELETE FROM search_totals WHERE parent_id = NEW.owner_id AND list = 'buckets';
END;

CREATE TRIGGER buckets_searched_out AFTER DELETE ON buckets
BEGIN
    DELETE FROM search_totals WHERE parent_id = OLD.owner_id AND list = 'buckets';
    DELETE FROM search_totals WHERE parent_id = OLD.id AND list = 'items';
END;

CREATE TRIGGER buckets_searched_changed AFTER UPDATE OF name, owner_id ON buckets
BEGIN
    DELETE FROM search_totals WHERE parent_id IN (OLD.owner_id, NEW.owner_id) AND list = 'buckets';
END;
