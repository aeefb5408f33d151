-- Messages sent outside the app (email; push and SMS later use the same log): one row per
-- person, event and channel, queued from the event log behind a cursor per organisation
-- and channel, so each is sent once however many nodes tail the log. The rows are the
-- delivery log: to whom, when, which channel, and what the mail server answered. An
-- email's link to the notice is kept only as the SHA-256 of its secret.
CREATE TABLE outbound (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    event_seq INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    -- Whom the message is about: the recipient, or for an escalation the unread one.
    about_member_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    queued_at INTEGER NOT NULL,
    next_attempt_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at INTEGER,
    skipped_at INTEGER,
    failed_at INTEGER,
    answer TEXT,
    link_hash BLOB UNIQUE,
    link_expires_at INTEGER,
    opened_at INTEGER,
    UNIQUE (org_id, event_seq, member_id, channel)
);
CREATE INDEX outbound_due ON outbound (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX outbound_member_message ON outbound (member_id, message_id);
CREATE INDEX outbound_message ON outbound (message_id);

CREATE TABLE outbound_cursors (
    org_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (org_id, channel)
);

-- A permanent failure (the mail server refused the address) is kept on the member, shown
-- to admins, and stops further mail until the address changes.
ALTER TABLE members ADD COLUMN email_failed_at INTEGER;
ALTER TABLE members ADD COLUMN email_failure TEXT;

-- The language a member last used readtrack in (set at sign-in), for their emails.
ALTER TABLE members ADD COLUMN language TEXT;
