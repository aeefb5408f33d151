-- The core schema: organisations, directory, tokens, messages, receipts, counters, events.
-- Instants are Unix milliseconds (INTEGER); ids are INTEGER keys shown as opaque strings.

-- At most one row: the first-run setup has happened.
CREATE TABLE server_setup (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    org_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE orgs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    working_days TEXT NOT NULL,
    work_start TEXT NOT NULL,
    work_end TEXT NOT NULL,
    quiet_start TEXT NOT NULL,
    quiet_end TEXT NOT NULL,
    quiet_reads TEXT NOT NULL,
    per_person_for TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    min_group_size INTEGER NOT NULL,
    policy_version INTEGER NOT NULL,
    -- The pilot as named (comma-separated ids) and expanded to every sub-department.
    pilot_departments TEXT,
    pilot_expanded TEXT,
    reminders_important TEXT,
    reminders_urgent TEXT,
    -- The last event sequence number handed out; bumped inside each writing transaction.
    last_seq INTEGER NOT NULL DEFAULT 0,
    -- Bumped whenever who-may-be-shown changes (policy acks, policy versions, pilots),
    -- so cached per-message visible counts know they are stale.
    visibility_epoch INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE policies (
    org_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by INTEGER,
    PRIMARY KEY (org_id, version)
);

CREATE TABLE departments (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    parent_id INTEGER,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX departments_sibling_name ON departments (org_id, COALESCE(parent_id, 0), lower(name));

CREATE TABLE members (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    department_id INTEGER NOT NULL,
    manager_id INTEGER,
    backup_id INTEGER,
    role TEXT NOT NULL,
    time_zone TEXT,
    password_hash TEXT,
    policy_ack_version INTEGER NOT NULL DEFAULT 0,
    policy_acked_at INTEGER,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
-- Emails are the login name, so they are unique across the whole server.
CREATE UNIQUE INDEX members_email ON members (email);
CREATE INDEX members_org_department ON members (org_id, department_id);
CREATE INDEX members_manager ON members (manager_id) WHERE manager_id IS NOT NULL;
CREATE INDEX members_backup ON members (backup_id) WHERE backup_id IS NOT NULL;

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    -- SHA-256 of the secret; the secret itself is never stored.
    hash BLOB NOT NULL UNIQUE,
    org_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_member ON tokens (member_id);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    sender_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    priority TEXT NOT NULL,
    tracking TEXT NOT NULL,
    require_ack INTEGER NOT NULL,
    response_options TEXT NOT NULL,
    audience_members TEXT NOT NULL,
    audience_departments TEXT NOT NULL,
    reminders TEXT,
    deadline INTEGER,
    is_async INTEGER NOT NULL,
    recipient_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_sender ON messages (sender_id, id);
CREATE INDEX messages_org_created ON messages (org_id, created_at);

-- One row per (message, recipient); the department is a snapshot taken at send time.
CREATE TABLE receipts (
    message_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    department_id INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    delivered_at INTEGER,
    read_at INTEGER,
    read_recorded_at INTEGER,
    acked_at INTEGER,
    response TEXT,
    read_quiet INTEGER NOT NULL DEFAULT 0,
    reminders INTEGER NOT NULL DEFAULT 0,
    last_reminded_at INTEGER,
    escalated_at INTEGER,
    PRIMARY KEY (message_id, member_id)
) WITHOUT ROWID;
CREATE INDEX receipts_member ON receipts (member_id, message_id);
CREATE INDEX receipts_state ON receipts (message_id, state, member_id);

-- Client event ids already applied: the idempotency keys of receipts.
CREATE TABLE receipt_events (
    member_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, event_id)
) WITHOUT ROWID;

-- Counters kept incrementally in the transaction that changes receipts, so a board's
-- summary never scans its recipients.
CREATE TABLE message_counters (
    message_id INTEGER PRIMARY KEY,
    recipients INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    read INTEGER NOT NULL DEFAULT 0,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    -- Recipients whose row may be shown, valid while visible_epoch equals the org's.
    visible INTEGER NOT NULL DEFAULT 0,
    visible_epoch INTEGER NOT NULL DEFAULT -1
);

CREATE TABLE message_responses (
    message_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    label TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, position)
) WITHOUT ROWID;

CREATE TABLE department_counters (
    message_id INTEGER NOT NULL,
    department_id INTEGER NOT NULL,
    recipients INTEGER NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, department_id)
) WITHOUT ROWID;

-- The per-organisation event sequence realtime clients resume from. A NULL target means
-- "every recipient of message_id".
CREATE TABLE events (
    org_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    target_member_id INTEGER,
    message_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
) WITHOUT ROWID;
CREATE INDEX events_target ON events (target_member_id, seq) WHERE target_member_id IS NOT NULL;
CREATE INDEX events_broadcast ON events (org_id, seq) WHERE target_member_id IS NULL;
CREATE INDEX events_at ON events (at);
