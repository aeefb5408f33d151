-- A member's mobile number (E.164, for SMS) and the identity provider's id for them
-- (the CSV import's and SCIM's `external_id`), unique within an organisation.
ALTER TABLE members ADD COLUMN phone TEXT;
ALTER TABLE members ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX members_external_id ON members (org_id, external_id) WHERE external_id IS NOT NULL;
