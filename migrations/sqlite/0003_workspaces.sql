-- Workspaces: where an org's agents run (schedules bind an agent to one).
-- Same tables and columns as migrations/postgres/0003_workspaces.sql.
CREATE TABLE workspaces (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    created_by BLOB NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX workspaces_org_name_key ON workspaces (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX workspaces_org_idx ON workspaces (org_id, created_at, id);
