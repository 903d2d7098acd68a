-- depends: 0008_search_counts
-- Each user's last large searched count, kept exact by the database on every write, so that
-- page 1 of that search costs no COUNT of its matches until the user searches something else
-- (bucketlist/listing.py). 0008's `search_counts` held for one change count of the user only:
-- any write of theirs, anywhere, meant counting 100,000 matches again.
--
-- The triggers add to `total` the matches a statement's rows bring, and take away those its
-- rows take, in the writing transaction, whoever writes: the handlers, the seeder's COPY, raw
-- SQL. Only rows under a parent with a remembered search are counted, and a write with none
-- (the usual one) stops after an index probe. A TRUNCATE forgets every remembered count.
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

-- The one place that says what a match is: as the search reads it (lower(name) LIKE pattern
-- ESCAPE '!', and the done filter: 1 done, 0 not done, -1 none). A one-expression SQL
-- function: the planner inlines it into the statements below.
CREATE FUNCTION search_matches(pattern TEXT, done_filter SMALLINT, name TEXT, done BOOLEAN)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(name) LIKE pattern ESCAPE '!' AND (done_filter < 0 OR done = (done_filter = 1))
$$;

-- Inserts and deletes: statement-level with transition tables, like the list counters (0006),
-- so a COPY of a million items is one call. Updates: row-level, only when a name, a done flag
-- or a parent changes (the WHEN clauses below): PostgreSQL allows no column list on a trigger
-- with transition tables, and the counters' own UPDATE of a bucket would call it on every
-- item written. Each first asks whether any row is under a parent with a remembered search
-- (an index probe per row), and stops there when none is, the usual write. Measured with
-- `python -m tools.bench --triggers` (README, Performance).
CREATE FUNCTION keep_item_search_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        IF NOT EXISTS (SELECT 1 FROM search_totals
                       WHERE parent_id IN (OLD.bucket_id, NEW.bucket_id) AND list = 'items') THEN
            RETURN NULL;
        END IF;
        -- A moved row leaves one parent's matches and joins the other's.
        UPDATE search_totals AS s SET total = s.total + moved.n
        FROM (
            SELECT t.owner_id,
                   (t.parent_id = NEW.bucket_id AND search_matches(t.pattern, t.done, NEW.name, NEW.done))::int
                   - (t.parent_id = OLD.bucket_id AND search_matches(t.pattern, t.done, OLD.name, OLD.done))::int AS n
            FROM search_totals AS t
            WHERE t.parent_id IN (OLD.bucket_id, NEW.bucket_id) AND t.list = 'items'
        ) AS moved
        WHERE s.owner_id = moved.owner_id AND moved.n <> 0;
    ELSIF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM new_items AS r
                       JOIN search_totals AS t ON t.parent_id = r.bucket_id AND t.list = 'items') THEN
            RETURN NULL;
        END IF;
        UPDATE search_totals AS s SET total = s.total + added.n
        FROM (
            SELECT t.owner_id, COUNT(*) AS n
            FROM new_items AS r JOIN search_totals AS t ON t.parent_id = r.bucket_id AND t.list = 'items'
            WHERE search_matches(t.pattern, t.done, r.name, r.done)
            GROUP BY t.owner_id
        ) AS added
        WHERE s.owner_id = added.owner_id;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM old_items AS r
                       JOIN search_totals AS t ON t.parent_id = r.bucket_id AND t.list = 'items') THEN
            RETURN NULL;
        END IF;
        UPDATE search_totals AS s SET total = s.total - removed.n
        FROM (
            SELECT t.owner_id, COUNT(*) AS n
            FROM old_items AS r JOIN search_totals AS t ON t.parent_id = r.bucket_id AND t.list = 'items'
            WHERE search_matches(t.pattern, t.done, r.name, r.done)
            GROUP BY t.owner_id
        ) AS removed
        WHERE s.owner_id = removed.owner_id;
    END IF;
    RETURN NULL;
END
$$;

-- The same for a user's buckets (no done filter: a bucket search's is always -1).
CREATE FUNCTION keep_bucket_search_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        IF NOT EXISTS (SELECT 1 FROM search_totals
                       WHERE parent_id IN (OLD.owner_id, NEW.owner_id) AND list = 'buckets') THEN
            RETURN NULL;
        END IF;
        UPDATE search_totals AS s SET total = s.total + moved.n
        FROM (
            SELECT t.owner_id,
                   (t.parent_id = NEW.owner_id AND search_matches(t.pattern, t.done, NEW.name, NULL))::int
                   - (t.parent_id = OLD.owner_id AND search_matches(t.pattern, t.done, OLD.name, NULL))::int AS n
            FROM search_totals AS t
            WHERE t.parent_id IN (OLD.owner_id, NEW.owner_id) AND t.list = 'buckets'
        ) AS moved
        WHERE s.owner_id = moved.owner_id AND moved.n <> 0;
    ELSIF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM new_buckets AS r
                       JOIN search_totals AS t ON t.parent_id = r.owner_id AND t.list = 'buckets') THEN
            RETURN NULL;
        END IF;
        UPDATE search_totals AS s SET total = s.total + added.n
        FROM (
            SELECT t.owner_id, COUNT(*) AS n
            FROM new_buckets AS r JOIN search_totals AS t ON t.parent_id = r.owner_id AND t.list = 'buckets'
            WHERE search_matches(t.pattern, t.done, r.name, NULL)
            GROUP BY t.owner_id
        ) AS added
        WHERE s.owner_id = added.owner_id;
    ELSE
        -- The search of a deleted bucket's items: they went first (its total to 0), now the row.
        DELETE FROM search_totals WHERE list = 'items' AND parent_id IN (SELECT id FROM old_buckets);
        IF NOT EXISTS (SELECT 1 FROM old_buckets AS r
                       JOIN search_totals AS t ON t.parent_id = r.owner_id AND t.list = 'buckets') THEN
            RETURN NULL;
        END IF;
        UPDATE search_totals AS s SET total = s.total - removed.n
        FROM (
            SELECT t.owner_id, COUNT(*) AS n
            FROM old_buckets AS r JOIN search_totals AS t ON t.parent_id = r.owner_id AND t.list = 'buckets'
            WHERE search_matches(t.pattern, t.done, r.name, NULL)
            GROUP BY t.owner_id
        ) AS removed
        WHERE s.owner_id = removed.owner_id;
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

-- A TRUNCATE fires none of the triggers above (it deletes no rows one by one, and may restart
-- the ids a remembered parent is known by): everything remembered goes.
CREATE FUNCTION forget_search_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_totals;
    RETURN NULL;
END
$$;

CREATE TRIGGER items_searched_truncated AFTER TRUNCATE ON items
    FOR EACH STATEMENT EXECUTE FUNCTION forget_search_totals();
CREATE TRIGGER buckets_searched_truncated AFTER TRUNCATE ON buckets
    FOR EACH STATEMENT EXECUTE FUNCTION forget_search_totals();
