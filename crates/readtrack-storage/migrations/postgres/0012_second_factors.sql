-- A second factor for password sign-ins (TOTP, RFC 6238): the shared secret (base32),
-- whether the member confirmed it (until then it is only being set up), and the last
-- time step a code was accepted for, so no code works twice.
CREATE TABLE second_factors (
    member_id BIGINT PRIMARY KEY,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    last_step BIGINT
);
