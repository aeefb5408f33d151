-- Idempotency-Key: the first answer to a create, replayed to a retry with the same key.
-- `scope` is the SHA-256 of the credential that sent it; `fingerprint` the SHA-256 of the
-- method, path and body; `status` stays NULL while the first request is in flight.
CREATE TABLE idempotency_keys (
    scope BYTEA NOT NULL,
    key TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    status BIGINT,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
