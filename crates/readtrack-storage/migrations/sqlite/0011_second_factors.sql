-- A second factor for password sign-ins (TOTP, RFC 6238): the shared secret (base32),
-- whether the member confirmed it (until then it is only being set up), and the last
-- time step a code was accepted for, so no code works twice.
CREATE TABLE second_factors (
    member_id INTEGER PRIMARY KEY,
    secret TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 0,
    last_step INTEGER
);
