-- OpenID Connect sign-in: the identity provider's subject (issuer + `sub`) each member
-- signs in as. A subject names one member and a member has at most one subject per
-- issuer, so an email changed at the provider later still finds the same person.
CREATE TABLE oidc_subjects (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    member_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject),
    UNIQUE (issuer, member_id)
);

-- A sign-in finished in the browser for the command-line client that started it
-- (RFC 8252 loopback redirect): the browser brings the client a one-time code, which
-- the client exchanges, with the PKCE verifier only it holds, for a session. Only the
-- code's SHA-256 is kept, for two minutes; taking it deletes it.
CREATE TABLE oidc_cli_codes (
    hash BYTEA PRIMARY KEY,
    org_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
