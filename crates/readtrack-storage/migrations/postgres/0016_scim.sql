-- SCIM provisioning. A User an identity provider deletes is deactivated and marked
-- here, so its history stays while SCIM answers 404 for it; `updated_at` is the
-- `meta.lastModified` of members and departments (NULL: never changed since created);
-- a department (a SCIM Group) keeps the identity provider's id like a member does.
ALTER TABLE members ADD COLUMN scim_deleted_at BIGINT;
ALTER TABLE members ADD COLUMN updated_at BIGINT;
ALTER TABLE departments ADD COLUMN updated_at BIGINT;
ALTER TABLE departments ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX departments_external_id ON departments (org_id, external_id) WHERE external_id IS NOT NULL;
