-- Invitations: a member the admin invites sets their own password through a one-time
-- link. One open invitation per member (a new one replaces it); only the SHA-256 of the
-- link's secret is kept, and accepting it deletes it.
CREATE TABLE invitations (
    member_id BIGINT PRIMARY KEY,
    org_id BIGINT NOT NULL,
    hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
