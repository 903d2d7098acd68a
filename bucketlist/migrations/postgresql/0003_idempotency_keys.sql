-- depends: 0002_rate_limits
-- The first answer to each Idempotency-Key of a user (see bucketlist/idempotency.py).
-- Times are seconds since the epoch from the database's clock.
CREATE TABLE idempotency_keys (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idem_key VARCHAR(255) NOT NULL,
    fingerprint CHAR(64) NOT NULL,
    claim CHAR(32) NOT NULL,
    locked_until DOUBLE PRECISION,
    status INTEGER,
    response TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);
