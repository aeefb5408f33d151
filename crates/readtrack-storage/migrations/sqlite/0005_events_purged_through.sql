-- The highest event sequence number retention removed, per organisation: a stream that
-- resumes from below it has missed events and is told to reload.
ALTER TABLE orgs ADD COLUMN events_purged_through INTEGER NOT NULL DEFAULT 0;
