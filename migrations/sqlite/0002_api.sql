-- API keys and projects (/api/v1). Same tables and columns as
-- migrations/postgres/0002_api.sql.

CREATE TABLE api_keys (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    created_by BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- First 12 characters of the key, for display; the key itself is never stored.
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    -- Space-separated scope names.
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE UNIQUE INDEX api_keys_secret_hash_key ON api_keys (secret_hash);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at);

CREATE TABLE projects (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    metadata TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
-- A slug is unique among the org's live projects; a deleted one frees it.
CREATE UNIQUE INDEX projects_org_slug_key ON projects (org_id, slug) WHERE deleted_at IS NULL;
CREATE INDEX projects_org_idx ON projects (org_id, created_at, id);
