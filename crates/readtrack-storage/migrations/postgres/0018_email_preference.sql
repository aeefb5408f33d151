-- A member may switch off the emails that are not essential (reminders, escalations);
-- urgent notices and emergencies are emailed regardless.
ALTER TABLE members ADD COLUMN email_reminders_off BOOLEAN NOT NULL DEFAULT FALSE;
