-- Privacy and governance: the audit log, retention's aggregates, pulse surveys.

-- Append-only: no code path updates or deletes audit entries.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor_id INTEGER,
    action TEXT NOT NULL,
    subject TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, id);

-- Whose per-person data an audited view showed, so each member's export can list who
-- looked at them.
CREATE TABLE audit_subjects (
    audit_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    PRIMARY KEY (member_id, audit_id)
) WITHOUT ROWID;

-- What retention keeps of a notice once its per-person rows are purged: per department,
-- the counts and mergeable delay histograms that analytics add up.
CREATE TABLE department_stats (
    message_id INTEGER NOT NULL,
    department_id INTEGER NOT NULL,
    org_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    recipients INTEGER NOT NULL,
    read INTEGER NOT NULL,
    acknowledged INTEGER NOT NULL,
    reminders INTEGER NOT NULL,
    escalations INTEGER NOT NULL,
    unread_at_deadline INTEGER NOT NULL,
    with_deadline INTEGER NOT NULL,
    read_delays TEXT NOT NULL,
    ack_delays TEXT NOT NULL,
    PRIMARY KEY (message_id, department_id)
) WITHOUT ROWID;
CREATE INDEX department_stats_org ON department_stats (org_id, created_at);

ALTER TABLE messages ADD COLUMN purged_at INTEGER;

CREATE TABLE surveys (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    -- Comma-separated department ids (sub-departments included at creation); empty: everyone.
    scope TEXT NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    closes_at INTEGER
);

-- Who has answered (never what): enforces one answer per person.
CREATE TABLE survey_participation (
    survey_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    PRIMARY KEY (survey_id, member_id)
) WITHOUT ROWID;

-- What was answered (never by whom): keyed by a random id, with no time, so rows cannot
-- be matched to participation by order.
CREATE TABLE survey_answers (
    id TEXT NOT NULL PRIMARY KEY,
    survey_id INTEGER NOT NULL,
    department_id INTEGER NOT NULL,
    monitored INTEGER NOT NULL,
    helped INTEGER NOT NULL,
    comment TEXT
) WITHOUT ROWID;
CREATE INDEX survey_answers_survey ON survey_answers (survey_id);
