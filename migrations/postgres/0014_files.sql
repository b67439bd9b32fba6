-- Project files (SPEC §16): the bytes live in the object store under
-- `object_key`; a row is the file's metadata and its place in the org's
-- storage count. Deleting marks `deleted_at` at once (the file is gone to
-- every reader and out of the count); the object is removed then, or by
-- the sweeper if that failed, which then removes the row.
-- Same tables and columns as migrations/sqlite/0014_files.sql.
CREATE TABLE files (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    project_id UUID NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    object_key TEXT NOT NULL,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_by_agent UUID REFERENCES agents (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE INDEX files_project_idx ON files (project_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX files_org_idx ON files (org_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX files_deleted_idx ON files (deleted_at) WHERE deleted_at IS NOT NULL;
