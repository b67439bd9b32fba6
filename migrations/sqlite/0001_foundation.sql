-- Accounts, organizations, memberships, invites, audit log.
-- Same tables and columns as migrations/postgres/0001_foundation.sql.

CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- One row per signed-in browser session; the tower-sessions record holds
-- this id. Revoking the row signs that session out everywhere.
CREATE TABLE user_sessions (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    revoked_at TEXT
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

CREATE TABLE orgs (
    id BLOB PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    created_by BLOB NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX orgs_slug_key ON orgs (slug);

CREATE TABLE memberships (
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE invites (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_by BLOB NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    accepted_by BLOB REFERENCES users (id),
    accepted_at TEXT,
    revoked_at TEXT
);
CREATE UNIQUE INDEX invites_token_hash_key ON invites (token_hash);
CREATE INDEX invites_org_idx ON invites (org_id);

CREATE TABLE audit_log (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB,
    actor_user_id BLOB,
    auth_method TEXT NOT NULL,
    stepped_up_at TEXT,
    ip TEXT,
    action TEXT NOT NULL,
    target TEXT,
    details TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, created_at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_user_id, created_at);
