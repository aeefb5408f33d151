-- Idempotency-Key: the first answer to a create, replayed to a retry with the same key.
-- `scope` is the SHA-256 of the credential that sent it; `fingerprint` the SHA-256 of the
-- method, path and body; `status` stays NULL while the first request is in flight.
CREATE TABLE idempotency_keys (
    scope BLOB NOT NULL,
    key TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    status INTEGER,
    response TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
