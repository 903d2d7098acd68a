-- depends: 0001_initial
-- Rate-limit counts when they are kept in the database (bucketlist/ratelimit.py): one row per
-- counted attempt, keyed by a SHA-256 digest of the limit and who it counts, with times in
-- seconds since the epoch as `limits` gives them.
CREATE TABLE rate_limit_hits (
    key TEXT NOT NULL,
    hit_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
-- A window is one range scan: the key's newest hits.
CREATE INDEX rate_limit_hits_key_hit_at ON rate_limit_hits (key, hit_at);
-- The opportunistic sweep of expired rows.
CREATE INDEX rate_limit_hits_expires_at ON rate_limit_hits (expires_at);
