-- depends: 0008_search_counts
-- Each user's last large searched count, kept exact by the database on every write, so that
-- page 1 of that search costs no COUNT of its matches until the user searches something else
-- (bucketlist/listing.py). 0008's `search_counts` held for one change count of the user only:
-- any write of theirs, anywhere, meant counting 100,000 matches again.
--
-- The triggers add to `total` the matches a statement's rows bring, and take away those its
-- rows take, in the writing transaction, whoever writes: the handlers, the seeder's COPY, raw
-- SQL. Only rows under a parent with a remembered search are looked at (an index probe), and
-- when there are none, the usual write, nothing more is done.
--
-- `search_counts` stays for service code from before this migration (a rolling upgrade runs
-- both); nothing here reads it, and a later release drops it.
CREATE TABLE search_totals (
    owner_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    list TEXT NOT NULL,  -- "buckets" or "items"
    parent_id INTEGER NOT NULL,  -- the user (buckets) or the bucket (items) the list is under
    pattern TEXT NOT NULL,  -- the LIKE pattern counted
    done SMALLINT NOT NULL,  -- the done filter: 1 done, 0 not done, -1 none
    total INTEGER NOT NULL
);
CREATE INDEX search_totals_parent ON search_totals (parent_id, list);

-- A row a statement added (sign 1) or removed (-1) under a parent with a remembered search.
CREATE TYPE search_delta AS (list TEXT, parent_id INTEGER, name TEXT, done BOOLEAN, sign INTEGER);

-- The one place that says what a match is: as the search reads it (lower(name) LIKE pattern
-- ESCAPE '!', and the done filter: 1 done, 0 not done, -1 none). plpgsql, not sql: its plan is
-- kept for the session instead of made on every call.
CREATE FUNCTION keep_search_totals(deltas search_delta[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_totals AS s SET total = s.total + moved.n
    FROM (
        SELECT t.owner_id, SUM(d.sign) AS n
        FROM search_totals AS t JOIN unnest(deltas) AS d ON d.parent_id = t.parent_id AND d.list = t.list
        WHERE lower(d.name) LIKE t.pattern ESCAPE '!' AND (t.done < 0 OR d.done = (t.done = 1))
        GROUP BY t.owner_id
        HAVING SUM(d.sign) <> 0
    ) AS moved
    WHERE s.owner_id = moved.owner_id;
END
$$;

-- Inserts and deletes: statement-level with transition tables, like the list counters (0006),
-- so a COPY of a million items is one call. Updates: row-level, only when a name, a done flag
-- or a parent changes (the WHEN clauses below): PostgreSQL allows no column list on a trigger
-- with transition tables, and the counters' own UPDATE of a bucket would call it on every
-- item written.
CREATE FUNCTION keep_item_search_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    deltas search_delta[];
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        IF NOT EXISTS (SELECT 1 FROM search_totals
                       WHERE parent_id IN (OLD.bucket_id, NEW.bucket_id) AND list = 'items') THEN
            RETURN NULL;
        END IF;
        deltas := ARRAY[('items', NEW.bucket_id, NEW.name, NEW.done, 1)::search_delta,
                        ('items', OLD.bucket_id, OLD.name, OLD.done, -1)::search_delta];
    ELSIF TG_OP = 'INSERT' THEN
        deltas := ARRAY(SELECT ('items', bucket_id, name, done, 1)::search_delta FROM new_items
                        WHERE bucket_id IN (SELECT parent_id FROM search_totals WHERE list = 'items'));
    ELSE
        deltas := ARRAY(SELECT ('items', bucket_id, name, done, -1)::search_delta FROM old_items
                        WHERE bucket_id IN (SELECT parent_id FROM search_totals WHERE list = 'items'));
    END IF;
    IF cardinality(deltas) > 0 THEN
        PERFORM keep_search_totals(deltas);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION keep_bucket_search_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    deltas search_delta[];
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        IF NOT EXISTS (SELECT 1 FROM search_totals
                       WHERE parent_id IN (OLD.owner_id, NEW.owner_id) AND list = 'buckets') THEN
            RETURN NULL;
        END IF;
        deltas := ARRAY[('buckets', NEW.owner_id, NEW.name, NULL, 1)::search_delta,
                        ('buckets', OLD.owner_id, OLD.name, NULL, -1)::search_delta];
    ELSIF TG_OP = 'INSERT' THEN
        deltas := ARRAY(SELECT ('buckets', owner_id, name, NULL, 1)::search_delta FROM new_buckets
                        WHERE owner_id IN (SELECT parent_id FROM search_totals WHERE list = 'buckets'));
    ELSE
        deltas := ARRAY(SELECT ('buckets', owner_id, name, NULL, -1)::search_delta FROM old_buckets
                        WHERE owner_id IN (SELECT parent_id FROM search_totals WHERE list = 'buckets'));
        -- The search of a deleted bucket's items: they went first (its total to 0), now the row.
        DELETE FROM search_totals WHERE list = 'items' AND parent_id IN (SELECT id FROM old_buckets);
    END IF;
    IF cardinality(deltas) > 0 THEN
        PERFORM keep_search_totals(deltas);
    END IF;
    RETURN NULL;
END
$$;

-- PostgreSQL allows one event per trigger with transition tables.
CREATE TRIGGER items_searched_in AFTER INSERT ON items
    REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION keep_item_search_totals();
CREATE TRIGGER items_searched_out AFTER DELETE ON items
    REFERENCING OLD TABLE AS old_items FOR EACH STATEMENT EXECUTE FUNCTION keep_item_search_totals();
CREATE TRIGGER items_searched_changed AFTER UPDATE OF name, done, bucket_id ON items
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.done IS DISTINCT FROM NEW.done
                       OR OLD.bucket_id IS DISTINCT FROM NEW.bucket_id)
    EXECUTE FUNCTION keep_item_search_totals();
CREATE TRIGGER buckets_searched_in AFTER INSERT ON buckets
    REFERENCING NEW TABLE AS new_buckets FOR EACH STATEMENT EXECUTE FUNCTION keep_bucket_search_totals();
CREATE TRIGGER buckets_searched_out AFTER DELETE ON buckets
    REFERENCING OLD TABLE AS old_buckets FOR EACH STATEMENT EXECUTE FUNCTION keep_bucket_search_totals();
CREATE TRIGGER buckets_searched_changed AFTER UPDATE OF name, owner_id ON buckets
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.owner_id IS DISTINCT FROM NEW.owner_id)
    EXECUTE FUNCTION keep_bucket_search_totals();
