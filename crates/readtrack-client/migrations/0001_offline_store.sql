-- The offline store of one signed-in device: receipts waiting for the server, receipts
-- the server refused, and what the person has been shown, for reading offline.

-- Every receipt goes here first and leaves only once the server answered applied or
-- duplicate for it (or rejected, into dead_letters). `seq` keeps the order they
-- happened in; AUTOINCREMENT so a number is never reused after a delete.
CREATE TABLE IF NOT EXISTS outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL UNIQUE,
    message_id      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('delivered', 'read', 'ack')),
    -- When it happened, by the device's clock (RFC 3339, milliseconds).
    at              TEXT NOT NULL,
    response        TEXT,
    -- When it was stored.
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS outbox_by_message ON outbox (message_id);

-- Receipts the server refused, with its reason: kept for people to see, never dropped
-- silently.
CREATE TABLE IF NOT EXISTS dead_letters (
    event_id    TEXT PRIMARY KEY,
    message_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    response    TEXT,
    created_at  TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    failed_at   TEXT NOT NULL,
    code        TEXT NOT NULL,
    message     TEXT NOT NULL
);

-- The last inbox listing seen (MessageSummary JSON), in the server's order.
CREATE TABLE IF NOT EXISTS inbox_cache (
    message_id TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    summary    TEXT NOT NULL
);

-- Notices in full (MessageDetail JSON), so they can be read offline.
CREATE TABLE IF NOT EXISTS message_cache (
    message_id TEXT PRIMARY KEY,
    detail     TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);

-- Small facts: the last stream sequence number, whose store this is, when the inbox
-- was last refreshed.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
