-- Sending rights: who may send, to which part of the tree, at which priority and
-- tracking (a JSON object, see `sql::encode_rights`). New organisations are created with
-- the safe defaults; the ones that existed before keep what they had until an admin
-- narrows it: everyone sends anything.
ALTER TABLE orgs ADD COLUMN sending_rights TEXT NOT NULL DEFAULT '{"staff":{"reach":"everyone","max_priority":"urgent","max_tracking":"per_person"},"managers":{"reach":"everyone","max_priority":"urgent","max_tracking":"per_person"},"departments":[]}';
