-- depends: 0007_done_counter
-- The last large searched count of each user (bucketlist/listing.py): `q` over a large list is
-- a COUNT of every match, and page 1 of the same search, asked again before the user writes
-- anything, is then answered from here. `seq` is the user's change count (users.change_seq)
-- the count was made at; a row whose seq is not the user's current one no longer holds.
-- One row per user at most: bounded by construction, and gone with the user.
CREATE TABLE search_counts (
    owner_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    list TEXT NOT NULL,  -- "buckets" or "items"
    parent_id INTEGER NOT NULL,  -- the user (buckets) or the bucket (items) the list is under
    pattern TEXT NOT NULL,  -- the LIKE pattern counted
    done SMALLINT NOT NULL,  -- the done filter: 1 done, 0 not done, -1 none
    seq BIGINT NOT NULL,
    total INTEGER NOT NULL
);
