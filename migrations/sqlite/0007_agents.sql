-- Agents (SPEC §9). The restriction lists are JSON arrays, or NULL for
-- "everything available"; soft-deleted like projects.
CREATE TABLE agents (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    model TEXT NOT NULL,
    system_prompt TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    fast_mode INTEGER NOT NULL,
    max_steps INTEGER NOT NULL CHECK (max_steps BETWEEN 1 AND 50),
    temperature REAL,
    tools TEXT,
    peers TEXT,
    connectors TEXT,
    skills TEXT NOT NULL,
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
-- A name is unique among the org's live agents; a deleted one frees it.
CREATE UNIQUE INDEX agents_org_name_key ON agents (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX agents_org_idx ON agents (org_id, created_at, id);
