-- Workspaces: where an org's agents run (schedules bind an agent to one).
-- Same tables and columns as migrations/sqlite/0003_workspaces.sql.
CREATE TABLE workspaces (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX workspaces_org_name_key ON workspaces (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX workspaces_org_idx ON workspaces (org_id, created_at, id);
