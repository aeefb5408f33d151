-- Reminders, escalation, tasks and outgoing webhooks.

-- The durable due-queue: the next step of each unread recipient of a notice with a
-- reminder plan. A step is claimed, recorded and replaced by the next one in a single
-- transaction, so it fires exactly once even across restarts.
CREATE TABLE due_steps (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    -- 'reminder' (step_no = which one), 'escalation' (step_no = 0) or 'manual'
    -- (a sender's "remind now" deferred to the recipient's working time).
    step TEXT NOT NULL,
    step_no INTEGER NOT NULL,
    due_at INTEGER NOT NULL
);
CREATE INDEX due_steps_due ON due_steps (due_at);
CREATE UNIQUE INDEX due_steps_one ON due_steps (message_id, member_id, step, step_no);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    done_at INTEGER,
    -- 'read', 'acknowledged' or 'manual'
    done_by TEXT
);
CREATE INDEX tasks_member ON tasks (member_id, id);
CREATE INDEX tasks_receipt ON tasks (message_id, member_id) WHERE done_at IS NULL;

-- Who was told about whose unread notice: the "your team's unread notices" list.
CREATE TABLE escalations (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    recipient_id INTEGER NOT NULL,
    to_member_id INTEGER NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX escalations_to ON escalations (to_member_id, id);

-- The last time a sender pressed "remind unread" on a notice.
CREATE TABLE manual_reminds (
    message_id INTEGER PRIMARY KEY,
    last_at INTEGER NOT NULL
);

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    -- The HMAC key; needed in clear to sign, never returned or logged.
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX webhooks_org ON webhooks (org_id);

-- The durable delivery queue: at-least-once, retried with backoff until a 2xx.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    event_seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
