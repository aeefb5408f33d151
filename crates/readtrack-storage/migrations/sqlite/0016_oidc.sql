-- OpenID Connect sign-in: the identity provider's subject (issuer + `sub`) each member
-- signs in as. A subject names one member and a member has at most one subject per
-- issuer, so an email changed at the provider later still finds the same person.
CREATE TABLE oidc_subjects (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    member_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject),
    UNIQUE (issuer, member_id)
);
