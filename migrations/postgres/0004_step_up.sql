-- Second factors (passkeys, TOTP, recovery codes) and step-up.
-- Same tables and columns as migrations/sqlite/0004_step_up.sql.

-- A session is stepped up for a while after a passkey or TOTP ceremony.
ALTER TABLE user_sessions ADD COLUMN stepped_up_at TIMESTAMPTZ;
ALTER TABLE user_sessions ADD COLUMN step_up_method TEXT;

-- `credential` is webauthn-rs's `Passkey` as JSON: public key and
-- signature counter, nothing secret.
CREATE TABLE passkeys (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);

-- The secret is sealed with the server's master key (AES-256-GCM).
-- `confirmed_at` is NULL while enrolment waits for the first good code;
-- `last_step` is the 30-second step of the last code accepted, so a code
-- is never accepted twice.
CREATE TABLE totp_factors (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ,
    last_step BIGINT
);

CREATE TABLE recovery_codes (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);
